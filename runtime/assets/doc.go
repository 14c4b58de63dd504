// Package assets validates and packs the images a mini-app ships with its
// module: PNG, JPEG and WebP files from the app directory's assets/ folder,
// carried in the module's "passerelle.assets" custom section (see sdk/ABI.md
// "Assets") and served by the gateway at content-hash URLs.
//
// Every function takes bytes uploaded by merchants: types are checked by
// their content (magic bytes, and image.DecodeConfig for PNG and JPEG),
// never by the file's extension, and every limit is checked before the
// data is kept.
package assets
