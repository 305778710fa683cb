/* sampling_poller.c — see sampling_poller.h. */
#include "sampling_poller.h"

#include <stdio.h>

#include "../preload/clock.h"
#include "../preload/fork_state.h"
#include "../preload/log.h"
#include "../preload/process.h"
#include "../preload/url.h"
#include "http_client.h"
#include "sampler.h"

/* One answer may take this long; the agent is local. Short, since a
 * flush before an exec or at exit handed to the reporter thread waits
 * for the poll in progress (reporter/handover.h), within its 2 s. */
#define POLL_TIMEOUT_MS 1000

static struct ts_url poll_url;
static struct ts_http_client poll_http;
static int poll_state; /* 0: not set up, 1: polling, -1: not remote or bad URL */
static uint64_t poll_next_ms TS_FORK_STATE;
static bool poll_reported; /* a failure was said (once a process) */
static bool poll_applied;  /* a strategy was fetched and is in force */

bool ts_sampling_poller_wanted(void)
{
    char url[2048];
    return ts_sampler_remote_url(url, sizeof url, "x");
}

/* Build the URL once (the service name is known by now). */
static bool poll_setup(void)
{
    if (poll_state != 0)
        return poll_state > 0;
    char url[2048];
    poll_state = -1;
    if (!ts_sampler_remote_url(url, sizeof url, ts_proc.service_name))
        return false;
    const char *why = ts_url_parse(url, &poll_url);
    if (why) {
        char shown[sizeof url];
        ts_url_shown(url, shown, sizeof shown);
        ts_log_error("remote sampler: cannot use %s: expected %s; the initial rate applies", shown,
                     why);
        return false;
    }
    ts_http_client_init(&poll_http, &poll_url);
    poll_state = 1;
    return true;
}

uint64_t ts_sampling_poll(uint64_t now_ms)
{
    if (!poll_setup())
        return 0;
    if (now_ms < poll_next_ms)
        return poll_next_ms;
    struct ts_http_response r;
    ts_http_request(&poll_http, "GET", NULL, NULL, NULL, 0, ts_mono_ms() + POLL_TIMEOUT_MS, &r);
    char where[sizeof poll_url.authority + sizeof poll_url.path + 8], shown[sizeof where];
    snprintf(where, sizeof where, "http://%s%s", poll_url.authority, poll_url.path);
    ts_url_shown(where, shown, sizeof shown); /* a user, a token in the query: not shown */
    bool answered = ts_http_succeeded(&r);    /* any 2xx, as README says */
    if (answered && ts_sampler_apply_strategy(r.body, r.body_len) == 0) {
        ts_log_debug("remote sampler: strategy from %s applied", shown);
        poll_applied = true;
    } else {
        char why[160];
        if (answered)
            snprintf(why, sizeof why, "the answer is not a sampling strategy");
        else
            ts_http_describe(&r, why, sizeof why);
        const char *kept = poll_applied ? "keeping the strategy fetched before"
                                        : "sampling at the initial rate meanwhile";
        /* The first failure is an error, as an exporter's is: a sampler
         * that never gets its strategy samples at the initial rate (0.1%
         * by default) for the process's life. */
        if (!poll_reported) {
            poll_reported = true;
            ts_log_error("remote sampler: %s: %s; %s (later failures are not shown)", shown, why,
                         kept);
        } else {
            ts_log_debug("remote sampler: %s: %s; %s", shown, why, kept);
        }
    }
    poll_next_ms = ts_mono_ms() + ts_sampler_poll_interval_ms();
    return poll_next_ms;
}

TS_FORK_HANDLER void ts_sampling_poller_after_fork(void)
{
    if (poll_state > 0)
        ts_http_client_forget(&poll_http);
    poll_next_ms = 0;
}
