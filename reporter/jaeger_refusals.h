/* jaeger_refusals.h — is a remote Jaeger agent down? Told from the
 * refusals its host sends back.
 *
 * A connected UDP socket holds an ICMP "port unreachable" as its pending
 * error. An agent on another host refuses after the send has returned:
 * the refusal is found at a later send (its pending error, read before
 * it), and says nothing of the datagram about to go. The socket holds one
 * error, so a burst of datagrams sent before the first refusal comes back
 * reports one, and a send in such a burst finds nothing pending although
 * the agent is down. So single refusals are never counted in a row:
 *
 * - a send that finds nothing pending is evidence that the agent takes
 *   datagrams only when it comes TS_JAEGER_REFUSAL_BACK_MS or more after
 *   the last refusal was found (the datagrams sent meanwhile had time to
 *   be refused);
 * - a refusal is the agent down when the one before it was found less than
 *   TS_JAEGER_REFUSED_AGAIN_MS ago, or with no evidence since (a down
 *   agent that gets one batch a minute). One alone is an agent restarted
 *   since, or a datagram lost while it was down.
 *
 * Times are the caller's (ts_mono_ms); no system call, so unit tests
 * drive it with their own clock. One per exporter; not thread-safe (the
 * reporter's export mutex serialises its users). */
#ifndef TS_JAEGER_REFUSALS_H
#define TS_JAEGER_REFUSALS_H

#include <stdbool.h>
#include <stdint.h>

#define TS_JAEGER_REFUSED_AGAIN_MS 60000u
#define TS_JAEGER_REFUSAL_BACK_MS 1000u

struct ts_jaeger_refusals {
    uint64_t refused_ms; /* when the last refusal was found; 0: none yet */
    bool taken_since;    /* evidence since that the agent takes datagrams */
};

/* A send at now found a refusal pending: true when the agent is down. */
static inline bool ts_jaeger_refused(struct ts_jaeger_refusals *r, uint64_t now)
{
    bool down =
        r->refused_ms != 0 && (!r->taken_since || now - r->refused_ms < TS_JAEGER_REFUSED_AGAIN_MS);
    r->refused_ms = now;
    r->taken_since = false;
    return down;
}

/* A send at now found nothing pending: true when that is evidence that the
 * agent takes datagrams (above). */
static inline bool ts_jaeger_found_clear(struct ts_jaeger_refusals *r, uint64_t now)
{
    if (r->refused_ms != 0 && now - r->refused_ms < TS_JAEGER_REFUSAL_BACK_MS)
        return false;
    r->taken_since = true;
    return true;
}

#endif
