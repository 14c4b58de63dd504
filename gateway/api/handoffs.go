package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/handoff"
)

// Handoffs is the state of the conversations apps handed to their
// merchant's staff (host/handoff's Service satisfies it).
type Handoffs interface {
	List(ctx context.Context, merchant string, openOnly bool, limit int) ([]handoff.Handoff, error)
	Get(ctx context.Context, merchant, id string) (handoff.Handoff, error)
	TakeAs(ctx context.Context, merchant, id string, a handoff.Agent) (handoff.Handoff, error)
	Answered(ctx context.Context, merchant, id string, a handoff.Agent) (handoff.Handoff, error)
	ReturnAs(ctx context.Context, merchant, id string, a handoff.Agent, note string) (handoff.Handoff, error)
	Changed(merchant string)
	Wait(ctx context.Context, merchant string, since uint64) uint64
}

// Conversations reads a handed-off conversation and posts an agent's
// message into it through the path every app message takes, so that it
// reaches the person on whatever surface they use (the gateway's Server
// satisfies it).
type Conversations interface {
	Messages(ctx context.Context, conversation string, after uint64, limit int) ([]convlog.Message, error)
	Emit(ctx context.Context, out host.Outgoing) error
}

// Standings tells what a business may send a person (host/consent's
// Service satisfies it): an agent answers nobody who stopped the business.
type Standings interface {
	Standings(ctx context.Context, person string) ([]consent.Standing, error)
}

// HandoffWait is the longest GET /v1/handoffs?wait= holds a request
// before answering with no change.
const HandoffWait = 25 * time.Second

// HumanAgentWindow is how long after the person's last message a human
// agent may still answer on Messenger and Instagram (Meta's HUMAN_AGENT
// message tag).
const HumanAgentWindow = 7 * 24 * time.Hour

// handoffView is a handoff as the merchant sees it: never the person's
// platform id, only their id for the app.
type handoffView struct {
	ID           string            `json:"id"`
	App          string            `json:"app"`
	Version      string            `json:"version"`
	Conversation string            `json:"conversation"`
	User         string            `json:"user,omitempty"`
	Surface      string            `json:"surface,omitempty"`
	Reason       string            `json:"reason"`
	Summary      string            `json:"summary,omitempty"`
	Fields       map[string]string `json:"fields,omitempty"`
	Status       string            `json:"status"`
	Agent        string            `json:"agent,omitempty"`
	AgentID      string            `json:"agent_id,omitempty"` // Agent's member id; none for the merchant itself
	Answered     []handoff.Agent   `json:"answered,omitempty"` // who answered in it, by first answer
	Note         string            `json:"note,omitempty"`
	Created      int64             `json:"created"`
	Taken        int64             `json:"taken,omitempty"`
	Returned     int64             `json:"returned,omitempty"`
}

func viewOf(h handoff.Handoff) handoffView {
	return handoffView{ID: h.ID, App: h.App.App, Version: h.App.Version, Conversation: h.Conversation, User: h.User,
		Surface: h.Surface, Reason: h.Reason, Summary: h.Summary, Fields: h.Fields, Status: h.Status, Agent: h.Agent,
		AgentID: h.AgentID, Answered: h.Answered, Note: h.Note, Created: h.Created, Taken: h.Taken, Returned: h.Returned}
}

// inboxMessage is one message of a handed-off conversation: from the
// person (no name: the merchant knows them by their id for the app), the
// app, an agent of the merchant, or the page (the business wrote from the
// network's own inbox; Agent names that tool).
type inboxMessage struct {
	Seq     uint64       `json:"seq"`
	Time    int64        `json:"time"`
	From    string       `json:"from"` // person, app, agent or page
	Agent   string       `json:"agent,omitempty"`
	Message host.Message `json:"message"`
	Surface string       `json:"surface,omitempty"` // the person's surface when they sent it
}

func (h *Handler) handoffRoutes() {
	h.mux.HandleFunc("GET /v1/handoffs", h.agent(h.inbox(h.listHandoffs)))
	h.mux.HandleFunc("GET /v1/handoffs/{id}", h.agent(h.inbox(h.readHandoff)))
	h.mux.HandleFunc("POST /v1/handoffs/{id}/take", h.agent(h.inbox(h.takeHandoff)))
	h.mux.HandleFunc("POST /v1/handoffs/{id}/reply", h.agent(h.inbox(h.replyHandoff)))
	h.mux.HandleFunc("POST /v1/handoffs/{id}/handback", h.agent(h.inbox(h.handBack)))
}

// inbox refuses the inbox's endpoints on a server that keeps no handoffs.
func (h *Handler) inbox(next func(w http.ResponseWriter, r *http.Request, merchant string, who actor)) func(http.ResponseWriter, *http.Request, actor) {
	return func(w http.ResponseWriter, r *http.Request, who actor) {
		if h.cfg.Handoffs == nil || h.cfg.Conversations == nil {
			writeError(w, errorf(CodeUnavailable, "this server has no merchant inbox"))
			return
		}
		next(w, r, who.merchant, who)
	}
}

// listHandoffs serves GET /v1/handoffs[?status=open|all][&wait=V]: the
// merchant's handoffs, newest first (open ones by default), with the
// inbox's version. With wait, the answer waits (up to HandoffWait) until
// the version differs from V: a page learns of changes without polling.
func (h *Handler) listHandoffs(w http.ResponseWriter, r *http.Request, merchant string, who actor) {
	q := r.URL.Query()
	openOnly := true
	switch q.Get("status") {
	case "", "open":
	case "all":
		openOnly = false
	default:
		writeError(w, errorf(CodeBadRequest, "status is \"open\" (the default) or \"all\""))
		return
	}
	var version uint64
	if s := q.Get("wait"); s != "" {
		since, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, errorf(CodeBadRequest, "wait is the version a previous answer gave, a whole number"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), HandoffWait)
		go func() {
			select {
			case <-h.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		version = h.cfg.Handoffs.Wait(ctx, merchant, since)
		cancel()
	} else {
		version = h.cfg.Handoffs.Wait(canceled, merchant, ^uint64(0))
	}
	list, err := h.cfg.Handoffs.List(r.Context(), merchant, openOnly, 0)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	views := make([]handoffView, len(list))
	for i, ho := range list {
		views[i] = viewOf(ho)
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": version, "handoffs": views})
}

// canceled is a context that has ended: Wait then answers at once.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// readHandoff serves GET /v1/handoffs/{id}[?after=SEQ]: the handoff, the
// conversation's messages after SEQ (the newest 200 at most), and, for a
// person on Messenger or Instagram, until when an agent may answer.
func (h *Handler) readHandoff(w http.ResponseWriter, r *http.Request, merchant string, who actor) {
	ho, err := h.cfg.Handoffs.Get(r.Context(), merchant, r.PathValue("id"))
	if err != nil {
		writeError(w, handoffError(err, r.PathValue("id")))
		return
	}
	var after uint64
	if s := r.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			writeError(w, errorf(CodeBadRequest, "after is the seq of the last message you have, a whole number"))
			return
		}
	}
	msgs, err := h.cfg.Conversations.Messages(r.Context(), ho.Conversation, after, 200)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	out := make([]inboxMessage, len(msgs))
	var lastPerson int64
	for i, m := range msgs {
		from := m.From.Kind
		if from == "app" && m.From.Agent != "" {
			from = "agent"
		}
		if from == "person" {
			lastPerson = m.Time
		}
		agent := m.From.Agent
		if from == "page" { // the business answered from the network's own inbox (an echo)
			agent = m.From.Name
		}
		out[i] = inboxMessage{Seq: m.Seq, Time: m.Time, From: from, Agent: agent, Message: m.Msg, Surface: m.Surface}
	}
	resp := map[string]any{"handoff": viewOf(ho), "messages": out}
	if lastPerson != 0 && (ho.Surface == "messenger" || ho.Surface == "instagram") {
		resp["answer_until"] = lastPerson + HumanAgentWindow.Milliseconds()
	}
	writeJSON(w, http.StatusOK, resp)
}

type agentRequest struct {
	Agent string `json:"agent"`
	Text  string `json:"text,omitempty"`
	Note  string `json:"note,omitempty"`
}

// agentBody reads an agent's request and says who answers: the member
// signed in, or the merchant under the name it gives.
func (h *Handler) agentBody(w http.ResponseWriter, r *http.Request, who actor) (agentRequest, handoff.Agent, *Error) {
	var req agentRequest
	if e := decode(r, w, &req); e != nil {
		return req, handoff.Agent{}, e
	}
	a, e := agentOf(who, req.Agent)
	return req, a, e
}

// takeHandoff serves POST /v1/handoffs/{id}/take {"agent"}: the agent
// takes the conversation; the app gets a handoff event.
func (h *Handler) takeHandoff(w http.ResponseWriter, r *http.Request, merchant string, who actor) {
	_, a, e := h.agentBody(w, r, who)
	if e != nil {
		writeError(w, e)
		return
	}
	ho, err := h.cfg.Handoffs.TakeAs(r.Context(), merchant, r.PathValue("id"), a)
	if err != nil {
		writeError(w, handoffError(err, r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"handoff": viewOf(ho)})
}

// replyHandoff serves POST /v1/handoffs/{id}/reply {"agent","text"}: the
// agent's message goes into the conversation as from the app's business
// and the agent (taking the handoff first if needed) and reaches the
// person on their surface.
func (h *Handler) replyHandoff(w http.ResponseWriter, r *http.Request, merchant string, who actor) {
	req, a, e := h.agentBody(w, r, who)
	if e != nil {
		writeError(w, e)
		return
	}
	m := host.Message{Text: req.Text}
	if err := chat.Validate(&m); err != nil {
		writeError(w, errorf(CodeBadRequest, "text: "+host.MessageOf(err)))
		return
	}
	ho, err := h.cfg.Handoffs.Get(r.Context(), merchant, r.PathValue("id"))
	if err != nil {
		writeError(w, handoffError(err, r.PathValue("id")))
		return
	}
	if e := h.stopped(r.Context(), ho); e != nil {
		writeError(w, e)
		return
	}
	if ho, err = h.cfg.Handoffs.TakeAs(r.Context(), merchant, ho.ID, a); err != nil {
		writeError(w, handoffError(err, r.PathValue("id")))
		return
	}
	id := chat.NewID()
	if err := h.cfg.Conversations.Emit(r.Context(), host.Outgoing{App: ho.App, Conversation: ho.Conversation,
		Message: &m, ID: id, Agent: a.Name}); err != nil {
		h.log.Warn("agent reply not posted", "handoff", ho.ID, "err", err)
		writeError(w, errorf(CodeUnavailable, "the message could not be posted right now; send it again"))
		return
	}
	if answered, err := h.cfg.Handoffs.Answered(r.Context(), merchant, ho.ID, a); err == nil {
		ho = answered
	} else {
		h.log.Warn("agent's answer not recorded in the handoff", "handoff", ho.ID, "err", err)
	}
	h.cfg.Handoffs.Changed(merchant)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "handoff": viewOf(ho)})
}

// stopped refuses an answer to a person who stopped the handoff's
// business (STOP): the business's staff may send them nothing either.
func (h *Handler) stopped(ctx context.Context, ho handoff.Handoff) *Error {
	if h.cfg.Standings == nil {
		return nil
	}
	all, err := h.cfg.Standings.Standings(ctx, ho.Person)
	if err != nil {
		h.log.Warn("standings not read", "handoff", ho.ID, "err", err)
		return errorf(CodeUnavailable, "whether the person still hears from you could not be read; send it again")
	}
	for _, st := range all {
		if st.Business == ho.App.Merchant && st.OptedOut {
			return errorf(CodeOptedOut, "the person sent STOP to your business on "+st.OptedOutSince.UTC().Format("2006-01-02 15:04 MST")+
				"; nothing was sent. They hear from you again once they write START; hand the conversation back meanwhile")
		}
	}
	return nil
}

// handBack serves POST /v1/handoffs/{id}/handback {"agent","note"}: the
// conversation goes back to the app, which gets a handback event with
// the note and the person's next messages.
func (h *Handler) handBack(w http.ResponseWriter, r *http.Request, merchant string, who actor) {
	req, a, e := h.agentBody(w, r, who)
	if e != nil {
		writeError(w, e)
		return
	}
	ho, err := h.cfg.Handoffs.ReturnAs(r.Context(), merchant, r.PathValue("id"), a, req.Note)
	if err != nil {
		writeError(w, handoffError(err, r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"handoff": viewOf(ho)})
}

// handoffError says what to do about a refusal of the handoff service.
func handoffError(err error, id string) *Error {
	e := toError(err)
	switch e.Code {
	case CodeHandoffNotFound:
		e.Message = "you have no handoff " + strconv.Quote(id) + "; list yours with GET /v1/handoffs"
	case CodeHandoffReturned:
		e.Message += "; it is no longer yours to answer"
	}
	return e
}
