/*
 * presence: the host's heartbeat (DESIGN §4 publish.lwHostTimeout, §5
 * POST/DELETE /presence). With a timeout above 0 the host counts as down
 * until its first beat, up for `timeout` seconds after each beat, and
 * down at once when it says goodbye; each change goes to
 * mqtt_client_set_host_up(), which makes the status topic say
 * `connected` or `disconnected`. One loop timer, re-armed by each beat.
 */
#ifndef OCTO_PRESENCE_H
#define OCTO_PRESENCE_H

#include <stdbool.h>

struct loop;
struct mqtt_client;
struct presence;

/* timeout_s > 0. Marks the host down now (no beat yet). */
struct presence *presence_new(struct loop *loop, struct mqtt_client *mc, unsigned timeout_s);
/* POST /presence: the host is up for timeout_s more seconds. */
void presence_beat(struct presence *p);
/* DELETE /presence: the host is going away; down now. */
void presence_gone(struct presence *p);
bool presence_host_up(const struct presence *p);
void presence_free(struct presence *p);

#endif
