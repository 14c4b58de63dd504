// Package chat gives mini-apps the chat.send and chat.share operations and
// validates the surface-neutral message model (host.Message) for everyone
// who accepts messages: Validate is what the gateway may use too.
//
// # chat.send
//
// The request is the host.Message JSON itself: {"text":"hi"} or
// {"card":{...}}. It is validated (see Validate) and emitted, as a typed
// value, as host.Outgoing{Message: &m, ID: id, Conversation: the event's
// conversation}. The response is {"id": id}: the id the stored message
// keeps.
//
// # chat.share
//
// {"card":{title,text,image}, "payload":"...", "conversation":"..."}: a card
// that opens the app (the host sets Card.Share to the calling app and the
// payload). Without "conversation" the card goes to the person as a prompt
// of the service's PromptKind "share" (Body
// {"type":"share","id":...,"app":...,"card":{...}}): the person picks where
// to share it, in host-drawn UI, and the kind's Apply posts the card there
// once it checked the person is a member. With "conversation"
// the card is posted there, but only if the person of the event is a member
// of that conversation (Config.Members; without it, only the event's own
// conversation is allowed).
//
// # chat.handoff
//
// {"reason":...,"summary":...,"fields":{...}}: the event's conversation
// goes to the merchant's staff (Config.Handoffs, host/handoff), who answer
// it from the merchant inbox until they hand it back; meanwhile the
// router holds the person's messages in it from the app. Inside an
// event's transaction (host.Call.Tx) the handoff is staged and takes
// effect when the event commits. The response is {"id":"ho_...",
// "status":"waiting"}, with "already":true when the conversation was
// handed off already.
//
// # Hooks the integrator wires
//
//   - Config.Members answers whether a person is in a conversation; without
//     it, the call's outbox does when it can (the gateway's does).
//   - Funcs() goes to the runtime's sandbox.Config.Funcs; messages and prompts
//     leave through host.Call.Out.
//   - PromptKind() goes to whoever shows prompts (gateway.Config.Prompts).
package chat
