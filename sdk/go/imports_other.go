//go:build !wasip1

package passerelle

// Outside the sandbox there are no imports: every call goes to the Context's
// Host. These mirror imports_wasip1.go name for name.
var (
	importChatSend        importFunc
	importChatShare       importFunc
	importChatNotify      importFunc
	importKVGet           importFunc
	importKVSet           importFunc
	importKVDelete        importFunc
	importKVList          importFunc
	importIdentityProfile importFunc
	importPayRequest      importFunc
	importPayRefund       importFunc
	importPayStatus       importFunc
	importTimerAfter      importFunc
	importTimerCancel     importFunc

	importConsentRequestOptIn        importFunc
	importConsentRequestSubscription importFunc

	importChatHandoff importFunc
)
