// Package handoff keeps the conversations mini-apps hand to their
// merchant's staff (the ABI operation chat.handoff, served by host/chat)
// until an agent hands them back, on bbolt.
//
// # States
//
// A handoff is waiting (the app handed the conversation off; no agent has
// answered yet), taken (an agent took it or answered in it) or returned
// (an agent handed it back to the app, with a note). While a
// conversation has a handoff that is waiting or taken, the person's
// messages, actions and opens in it are held from the app: the runtime
// asks Holds before it runs such an event (runtime/apps Config.Handoffs),
// or HoldsTx, which checks again in the transaction that consumes the
// held event that the handoff is still open, and the messages stay in the
// conversation, where the merchant inbox reads them. A conversation has at most one open handoff; handing off
// again while one is open answers the open one.
//
// # Who answers
//
// An agent is a member of the merchant's staff (gateway/staff: Agent.ID
// is its member id) or the merchant itself (no id). A handoff records who
// has it (Agent, AgentID: who took it last, or handed it back) and who
// answered in it (Answered, each agent once, by first answer), so that
// colleagues see it in the inbox; each answer carries its writer's name
// in the conversation too (host.Outgoing.Agent).
//
// # Events for the app
//
// Taking a handoff causes a handoff event (host.EventHandoff, status
// taken, the agent's name) and handing it back a handback event
// (host.EventHandback, status returned, the agent and the note), both in
// the handed-off conversation and for its person. Each is kept on disk,
// written in the transaction that changed the state, until its delivery
// ended (Notice.Done); Redeliver hands over those a previous run left.
//
// # The inbox
//
// List, Get, Take and Return serve the merchant inbox (gateway/api's
// /v1/handoffs), each scoped to one merchant: a merchant never reads
// another's handoffs. Wait lets an inbox page learn of changes (a new
// handoff, a taken or returned one, a person's message held in an open
// one) without polling.
package handoff
