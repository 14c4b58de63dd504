package main

import (
	"strings"
	"unicode"
)

// Topic groups questions.
type Topic struct {
	ID, Title string
}

// Entry is one question the bot can answer.
type Entry struct {
	ID       string
	Topic    string
	Title    string // short form for lists, at most 24 characters
	Question string
	Answer   string
	Keywords []string // words that point strongly at this entry
}

// FAQ is what the bot knows.
type FAQ struct {
	Topics  []Topic
	Entries []Entry
}

// DefaultFAQ is the demo help centre of a shop that delivers.
func DefaultFAQ() FAQ {
	return FAQ{
		Topics: []Topic{
			{ID: "orders", Title: "Orders & delivery"},
			{ID: "payments", Title: "Payments & refunds"},
			{ID: "account", Title: "Account & privacy"},
		},
		Entries: []Entry{
			{ID: "where", Topic: "orders", Title: "Where is my order?", Question: "Where is my order?",
				Answer:   "Orders leave within one working day. The app that took your order sends its status in this chat; if it has been more than 3 days, ask for a person and quote your order number.",
				Keywords: []string{"where", "track", "tracking", "status", "late", "arrive", "delivery", "shipping", "parcel", "package"}},
			{ID: "address", Topic: "orders", Title: "Change the address", Question: "Can I change the delivery address?",
				Answer:   "Yes, until the order leaves: ask for a person with your order number and the new address.",
				Keywords: []string{"address", "change", "move", "moved", "wrong", "street"}},
			{ID: "damaged", Topic: "orders", Title: "Item arrived damaged", Question: "My item arrived damaged",
				Answer:   "Sorry about that. Send a photo to a person from our team and we will replace the item or refund it in full.",
				Keywords: []string{"damaged", "broken", "defective", "faulty", "torn", "missing", "replace", "replacement"}},
			{ID: "refund", Topic: "payments", Title: "How refunds work", Question: "How do refunds work?",
				Answer:   "Refunds go back to the wallet you paid from, in full or in part, and appear there at once. The app tells you in this chat when it refunds you.",
				Keywords: []string{"refund", "refunds", "refunded", "money", "back", "return", "returns", "reimburse"}},
			{ID: "declined", Topic: "payments", Title: "Payment declined", Question: "Why was my payment declined?",
				Answer:   "Usually the wallet held too little money, or the request expired before you confirmed it. Nothing is charged for a declined payment: top up and try again.",
				Keywords: []string{"declined", "decline", "failed", "fail", "rejected", "insufficient", "funds", "payment", "pay", "charged", "charge"}},
			{ID: "stop", Topic: "account", Title: "Stop messages", Question: "How do I stop messages?",
				Answer:   "Send STOP in any chat: businesses can then no longer message you, on every app you use. Send START to allow them again.",
				Keywords: []string{"stop", "unsubscribe", "spam", "messages", "notifications", "opt", "out"}},
			{ID: "data", Topic: "account", Title: "What you know about me", Question: "What do you know about me?",
				Answer:   "Apps see an id made for them alone, never your account id. Your name or phone reach an app only after you allow it, and you can take that back at any time.",
				Keywords: []string{"data", "privacy", "private", "personal", "know", "delete", "gdpr", "phone", "name", "information"}},
		},
	}
}

func (f *FAQ) entry(id string) (Entry, bool) {
	for _, e := range f.Entries {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

func (f *FAQ) topic(id string) (Topic, bool) {
	for _, t := range f.Topics {
		if t.ID == id {
			return t, true
		}
	}
	return Topic{}, false
}

// stopwords carry no meaning for matching.
var stopwords = map[string]bool{
	"a": true, "an": true, "the": true, "i": true, "me": true, "my": true, "is": true, "are": true, "was": true,
	"it": true, "to": true, "of": true, "for": true, "and": true, "or": true, "in": true, "on": true, "at": true,
	"do": true, "does": true, "did": true, "can": true, "how": true, "what": true, "why": true, "you": true,
	"your": true, "be": true, "has": true, "have": true, "not": true, "hasn": true, "t": true, "s": true,
	"with": true, "this": true, "that": true, "please": true, "hi": true, "hello": true, "there": true,
}

// words returns the meaningful lower-case words of s, lightly stemmed.
func words(s string) []string {
	if len(s) > 2000 {
		s = s[:2000]
	}
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if stopwords[w] {
			continue
		}
		out = append(out, stem(w))
	}
	return out
}

// stem folds plurals and common endings so "refunds", "refunded" and
// "refund" meet.
func stem(w string) string {
	for _, suffix := range []string{"ing", "ed", "es", "s"} {
		if len(w) > len(suffix)+3 && strings.HasSuffix(w, suffix) {
			return w[:len(w)-len(suffix)]
		}
	}
	return w
}

// handoffWords mean the person wants a human.
var handoffWords = map[string]bool{"human": true, "person": true, "agent": true, "someone": true, "operator": true,
	"representative": true, "staff": true, "somebody": true, "people": true}

// WantsPerson reports whether text asks for a human.
func WantsPerson(text string) bool {
	for _, w := range words(text) {
		if handoffWords[w] {
			return true
		}
	}
	return false
}

// Match returns the entry best matching a question in the person's own
// words, and whether any matched well enough. A keyword counts 2, a word of
// the question 1; at least 2 is needed, and the earlier entry wins a tie.
func (f *FAQ) Match(text string) (Entry, bool) {
	q := words(text)
	if len(q) == 0 {
		return Entry{}, false
	}
	best, bestScore := -1, 1
	for i, e := range f.Entries {
		kw := map[string]bool{}
		for _, k := range e.Keywords {
			kw[stem(k)] = true
		}
		qw := map[string]bool{}
		for _, w := range words(e.Question) {
			qw[w] = true
		}
		score := 0
		for _, w := range q {
			switch {
			case kw[w]:
				score += 2
			case qw[w]:
				score++
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return Entry{}, false
	}
	return f.Entries[best], true
}
