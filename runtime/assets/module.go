package assets

import "github.com/passerelle/passerelle/runtime/wasmfile"

// SectionName is the custom section holding an app's assets.
const SectionName = "passerelle.assets"

// FromModule returns the validated assets carried by wasm, none when it
// has no passerelle.assets section.
func FromModule(wasm []byte) ([]Asset, error) {
	raw, ok, err := wasmfile.CustomSection(wasm, SectionName)
	if err != nil || !ok {
		return nil, err
	}
	return Unpack(raw)
}

// Embed returns a copy of wasm carrying files in its passerelle.assets
// section (replacing any), or wasm unchanged when files is empty.
func Embed(wasm []byte, files []Asset) ([]byte, error) {
	if len(files) == 0 {
		return wasm, nil
	}
	raw, err := Pack(files)
	if err != nil {
		return nil, err
	}
	return wasmfile.EmbedCustom(wasm, SectionName, raw)
}
