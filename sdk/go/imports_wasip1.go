//go:build wasip1

package passerelle

import "unsafe"

// The passerelle_v1 operation imports. The linker keeps only those an app
// reaches, so a module imports exactly the operations it uses.

//go:wasmimport passerelle_v1 chat_send
func importChatSend(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 chat_share
func importChatShare(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 kv_get
func importKVGet(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 kv_set
func importKVSet(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 kv_delete
func importKVDelete(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 kv_list
func importKVList(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 identity_profile
func importIdentityProfile(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 pay_request
func importPayRequest(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 pay_refund
func importPayRefund(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 pay_status
func importPayStatus(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 timer_after
func importTimerAfter(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 timer_cancel
func importTimerCancel(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 chat_notify
func importChatNotify(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 consent_request_optin
func importConsentRequestOptIn(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 consent_request_subscription
func importConsentRequestSubscription(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport passerelle_v1 chat_handoff
func importChatHandoff(ptr unsafe.Pointer, n uint32) uint64
