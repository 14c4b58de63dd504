;; Imports the host's metering module itself: refused.
(module (import "passerelle_meter" "refill" (func (param i64) (result i64))))
