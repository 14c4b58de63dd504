/*
 * support.h: the parts of the support bot that faq.c and support.c share.
 */
#ifndef SUPPORT_H
#define SUPPORT_H

#include "passerelle.h"

/* A topic groups questions. */
typedef struct topic {
	const char *id, *title;
} topic;

/* An entry is one question the bot can answer. */
typedef struct entry {
	const char *id, *topic;
	const char *title; /* short form for lists, at most 24 characters */
	const char *question, *answer;
	const char *const *keywords; /* NULL-terminated: words that point strongly at this entry */
} entry;

extern const topic faq_topics[];
extern const uint32_t faq_ntopics;
extern const entry faq_entries[];
extern const uint32_t faq_nentries;

const entry *faq_entry(const char *id);
const topic *faq_topic(const char *id);

/* words splits s into its meaningful lower-case words, lightly stemmed. */
uint32_t words(const char *s, const char ***out);
/* wants_person reports whether text asks for a human. */
bool wants_person(const char *text);
/* faq_match returns the entry best matching a question in the person's own
 * words, or NULL. */
const entry *faq_match(const char *text);

/* clip cuts s to at most n bytes on a rune boundary. */
const char *clip(const char *s, uint32_t n);
/* trim_space drops leading and trailing Unicode white space. */
const char *trim_space(const char *s);

#endif
