// Package whatsapp is the WhatsApp Cloud API connector's foundation:
// the webhook Meta calls, the parser of its notifications, and the durable
// record of what they reported. It is not wired into the gateway's server
// yet.
package whatsapp
