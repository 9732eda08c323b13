/*
 * presence: the host's heartbeat turned into mqtt_client_set_host_up()
 * calls (presence.h). The state is two-valued and lives in one place:
 * p_up; the timer exists exactly while the host is up.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "presence.h"

struct presence {
	struct loop *p_loop;
	struct mqtt_client *p_mc;
	unsigned p_timeout; /* seconds */
	bool p_up;
	uint64_t p_timer; /* expiry of the last beat while up, else 0 */
};

struct presence *presence_new(struct loop *loop, struct mqtt_client *mc, unsigned timeout_s)
{
	struct presence *p = xcalloc(1, sizeof(*p));

	p->p_loop = loop;
	p->p_mc = mc;
	p->p_timeout = timeout_s;
	mqtt_client_set_host_up(mc, false);
	return p;
}

static void presence_set(struct presence *p, bool up)
{
	if (p->p_up == up)
		return;
	p->p_up = up;
	mqtt_client_set_host_up(p->p_mc, up);
}

static int64_t presence_expired(struct loop *loop, uint64_t id, void *arg)
{
	struct presence *p = arg;

	(void)loop;
	(void)id;
	p->p_timer = 0;
	log_info("host presence: no POST /presence for %u s, the host counts as down",
	         p->p_timeout);
	presence_set(p, false);
	return LOOP_TIMER_STOP;
}

void presence_beat(struct presence *p)
{
	if (p->p_timer != 0)
		loop_timer_del(p->p_loop, p->p_timer);
	p->p_timer = loop_timer_add(p->p_loop, (int64_t)p->p_timeout * 1000, presence_expired, p);
	if (!p->p_up)
		log_info("host presence: the host is up (POST /presence)");
	presence_set(p, true);
}

void presence_gone(struct presence *p)
{
	if (p->p_timer != 0)
		loop_timer_del(p->p_loop, p->p_timer);
	p->p_timer = 0;
	if (p->p_up)
		log_info("host presence: the host said goodbye (DELETE /presence)");
	presence_set(p, false);
}

bool presence_host_up(const struct presence *p)
{
	return p->p_up;
}

void presence_free(struct presence *p)
{
	if (p == NULL)
		return;
	if (p->p_timer != 0)
		loop_timer_del(p->p_loop, p->p_timer);
	free(p);
}
