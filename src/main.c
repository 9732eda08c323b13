/*
 * main: the octomqttd program. Reads the arguments and the configuration,
 * wires the modules together on one loop, turns signals into flags, and
 * runs until SIGTERM/SIGINT. No protocol logic lives here.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cfg.h"
#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "net.h"
#include "presence.h"
#include "registry.h"
#include "subs.h"
#include "tls.h"
#include "webhook.h"

#define EXIT_USAGE  64 /* EX_USAGE */
#define EXIT_CONFIG 78 /* EX_CONFIG */

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/octomqttd.conf"

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_hup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = sig;
}

/*
 * Wiring of subs to the webhook client: one delivery target per
 * subscription. webhook_add_target() checks the host's addresses against
 * webhook.allow again (the configuration may have changed since the
 * subscription was registered), and every connect is checked once more.
 */
struct main_hooks {
	struct webhook *h_wh;
};

static int main_add_target(void *ctx, const struct reg_entry *e)
{
	struct main_hooks *h = ctx;
	char err[ERR_LEN];

	if (webhook_add_target(h->h_wh, e->id, e->url, err, sizeof(err)) != 0) {
		log_warnx("subscription %s (%s): %s", e->id, e->url, err);
		return -1;
	}
	return 0;
}

static void main_remove_target(void *ctx, const char *id)
{
	struct main_hooks *h = ctx;

	webhook_remove_target(h->h_wh, id);
}

static int main_deliver(void *ctx, const struct reg_entry *e, const char *body, size_t len,
                        uint64_t cookie)
{
	struct main_hooks *h = ctx;

	return webhook_enqueue(h->h_wh, e->id, body, len, cookie);
}

/* Deliveries backed up: stop reading from the broker until they drain. */
static void main_backlog(void *ctx, bool backlogged)
{
	mqtt_client_pause(ctx, backlogged);
}

/*
 * The broker's outbound queue passed half its bounds (or is back to a
 * quarter, or the link is down): stop answering requests that publish
 * until it drains, so hosts are slowed by TCP instead of refused 503.
 */
static void main_congestion(void *ctx, bool congested)
{
	http_server_pause(ctx, congested);
}

/*
 * The TLS settings of the broker link (broker) or of https webhooks as a
 * tls_conf: the files are read and checked here. NULL with err
 * "FILE:LINE: key: what is wrong" when one of them does not load.
 */
static struct tls_conf *main_tls_conf(const struct cfg *cfg, bool broker, char *err, size_t errlen)
{
	struct tls_conf_opts o = {0};
	struct tls_conf *tc;
	enum tls_file which;
	char why[ERR_LEN], where[ERR_LEN / 2];
	const char *key;

	if (broker) {
		o.ca_file = cfg->broker_tls_ca_certs;
		o.cert_file = cfg->broker_tls_certfile;
		o.key_file = cfg->broker_tls_keyfile;
		o.verify = cfg->broker_tls_verify;
		o.check_name = !cfg->broker_tls_insecure;
	} else {
		o.ca_file = cfg->webhook_tls_ca_certs;
		o.verify = true;
		o.check_name = !cfg->webhook_tls_insecure;
	}
	tc = tls_conf_new(&o, &which, why, sizeof(why));
	if (tc != NULL)
		return tc;
	switch (which) {
	case TLS_FILE_CERT:
		key = "broker.tls_certfile";
		break;
	case TLS_FILE_KEY:
		key = "broker.tls_keyfile";
		break;
	case TLS_FILE_CA:
		key = broker ? "broker.tls_ca_certs" : "webhook.tls_ca_certs";
		break;
	default:
		key = broker ? "broker.tls" : "webhook.tls_ca_certs";
		break;
	}
	err_printf(err, errlen, "%s: %s", cfg_where(cfg, key, where, sizeof(where)), why);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: octomqttd [-c FILE] [-t] [-v] [-V] [-h]\n"
	           "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	           "  -t       check the configuration and exit\n"
	           "  -v       more logging (repeat for more)\n"
	           "  -V       print the version and exit\n"
	           "  -h       print this help and exit\n");
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Not an exit status: main_args(), main_config() or a main_setup_*() went well. */
#define MAIN_GO_ON (-1)

/* Everything main() sets up; main_exit() frees it in reverse order. */
struct main_ctx {
	const char *m_path; /* -c FILE */
	bool m_check;       /* -t */
	int m_verbose;      /* -v, counted */
	struct cfg m_cfg;
	struct tls_conf *m_broker_tls; /* broker.tls, else NULL */
	struct loop *m_loop;
	struct mqtt_client_opts m_mc_opts; /* borrows m_cfg's strings */
	struct mqtt_client *m_mc;
	struct registry *m_reg;
	struct webhook *m_wh;
	struct main_hooks m_hooks; /* subs to webhook */
	struct subs_ops m_ops;
	struct subs *m_subs;
	struct api_opts m_api_opts;
	struct api *m_api;
	struct presence *m_presence; /* publish.lwHostTimeout > 0, else NULL */
	struct http_server *m_srv;
	bool m_ran; /* the loop ran: log "stopped" at the end */
};

/* The options. MAIN_GO_ON, or the exit status (-V, -h, a usage error). */
static int main_args(struct main_ctx *m, int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:tvVh")) != -1) {
		switch (ch) {
		case 'c':
			m->m_path = optarg;
			break;
		case 't':
			m->m_check = true;
			break;
		case 'v':
			m->m_verbose++;
			break;
		case 'V':
			printf("octomqttd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "octomqttd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return MAIN_GO_ON;
}

/*
 * The configuration and the TLS files it names (read at start-up and by
 * -t: a bad one stops both). MAIN_GO_ON, or the exit status: 0 after -t
 * found it good, else 1 with -t and EXIT_CONFIG without.
 */
static int main_config(struct main_ctx *m)
{
	const int bad = m->m_check ? 1 : EXIT_CONFIG;
	struct cfg *cfg = &m->m_cfg;
	char err[ERR_LEN];

	if (cfg_load(cfg, m->m_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return bad;
	}
	if (cfg->broker_tls &&
	    (m->m_broker_tls = main_tls_conf(cfg, true, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return bad;
	}
	if (cfg->webhook_tls_ca_certs != NULL) {
		struct tls_conf *tc = main_tls_conf(cfg, false, err, sizeof(err));

		if (tc == NULL) {
			fprintf(stderr, "%s\n", err);
			return bad;
		}
		tls_conf_free(tc);
	}
	if (m->m_check) {
		printf("%s: configuration OK\n", m->m_path);
		return 0;
	}
	return MAIN_GO_ON;
}

/* A sync slower than this is logged: requests waited that long. */
#define MAIN_SLOW_SYNC_MS 1000

/*
 * Before each select(): group commit (as Redis's beforeSleep with its
 * append-only file). The answers of this pass to requests that change
 * state wait in the server; one fdatasync of queue.spool and one of the
 * state file's log make what they accepted durable, then the answers go
 * out (or are withdrawn if a sync failed). Repeated while pipelined
 * requests produce more held answers; run when none is held too, for
 * changes that came from elsewhere (both syncs are no-ops when clean).
 */
static void main_before_sleep(struct loop *loop, void *arg)
{
	static struct log_limit lim_failed, lim_slow;
	struct main_ctx *m = arg;
	char err[ERR_LEN];
	size_t n;

	(void)loop;
	do {
		uint64_t t0 = loop_clock_ms(), ms;
		int rc = mqtt_client_sync(m->m_mc, err, sizeof(err));

		if (rc == 0)
			rc = registry_sync(m->m_reg, err, sizeof(err));
		ms = loop_clock_ms() - t0;
		n = http_server_held(m->m_srv);
		if (rc != 0)
			log_warnx_limited(&lim_failed,
			                  "%s; %zu connection(s) closed without their answers, "
			                  "the hosts must send again",
			                  err, n);
		else if (ms >= MAIN_SLOW_SYNC_MS)
			log_warnx_limited(&lim_slow,
			                  "fdatasync took %llu ms (queue.spool, state.file), %zu "
			                  "connection(s) waited for it: the disk is slow or busy",
			                  (unsigned long long)ms, n);
		if (n > 0)
			http_server_release(m->m_srv, rc == 0);
	} while (http_server_held(m->m_srv) > 0);
}

/* Logging, signals, the loop and the broker client (with its spool). */
static int main_setup_broker(struct main_ctx *m)
{
	const struct cfg *cfg = &m->m_cfg;
	char err[ERR_LEN];
	int level = (int)cfg->log_level + m->m_verbose;

	log_init(level > LOGL_DEBUG ? LOGL_DEBUG : (enum log_level)level, false);
	install_signals();
	m->m_loop = loop_new();
	cfg_mqtt_client_opts(cfg, &m->m_mc_opts);
	m->m_mc = mqtt_client_new(m->m_loop, &m->m_mc_opts);
	mqtt_client_tls(m->m_mc, m->m_broker_tls);
	if (cfg->broker_tls && !cfg->broker_tls_verify)
		log_warnx("broker.tls_verify = false: the broker's certificate is not checked");
	else if (cfg->broker_tls && cfg->broker_tls_insecure)
		log_warnx("broker.tls_insecure = true: the broker's host name is not checked");
	if (cfg->queue_spool != NULL &&
	    mqtt_client_spool(m->m_mc, cfg->queue_spool, err, sizeof(err)) != 0) {
		log_errorx("%s", err);
		return 1;
	}
	return MAIN_GO_ON;
}

/* The subscriptions: registry (state file), webhook client, subs. */
static int main_setup_subs(struct main_ctx *m)
{
	const struct cfg *cfg = &m->m_cfg;
	struct webhook_opts wo;
	char err[ERR_LEN];

	m->m_reg = registry_new(cfg->state_file);
	if (registry_load(m->m_reg, err, sizeof(err)) != 0) {
		/* Damaged or unreadable: never a silent fresh start (issue 18). */
		log_errorx("%s", err);
		return EXIT_CONFIG;
	}
	webhook_opts_init(&wo);
	wo.timeout_ms = (int64_t)cfg->webhook_timeout * 1000;
	wo.retries = cfg->webhook_retries;
	wo.max_pending = cfg->webhook_max_pending;
	wo.tls_ca_file = cfg->webhook_tls_ca_certs;
	wo.tls_insecure = cfg->webhook_tls_insecure;
	m->m_wh = webhook_new(m->m_loop, &wo);
	webhook_set_allow(m->m_wh, cfg->webhook_allow, cfg->webhook_allow_n);
	webhook_on_backlog(m->m_wh, main_backlog, m->m_mc);
	m->m_hooks.h_wh = m->m_wh;
	m->m_ops =
	        (struct subs_ops){main_add_target, main_remove_target, main_deliver, &m->m_hooks};
	m->m_subs = subs_new(m->m_reg, m->m_mc, cfg->sub_qos, &m->m_ops);
	/* An inbound message is acknowledged once its deliveries have ended. */
	webhook_on_done(m->m_wh, subs_on_done, m->m_subs);
	mqtt_client_on_message(m->m_mc, subs_on_message, m->m_subs);
	subs_sync(m->m_subs);
	if (registry_count(m->m_reg) > 0)
		log_info("%zu subscription(s) from %s", registry_count(m->m_reg), cfg->state_file);
	return MAIN_GO_ON;
}

/* The HTTP side: api (and presence) behind the server. */
static int main_setup_http(struct main_ctx *m)
{
	const struct cfg *cfg = &m->m_cfg;
	struct http_server_opts hso;
	char err[ERR_LEN];

	cfg_api_opts(cfg, &m->m_api_opts);
	m->m_api = api_new(&m->m_api_opts, m->m_mc, NULL);
	api_set_subscriptions(m->m_api, m->m_reg, m->m_subs, m->m_wh);
	if (cfg->pub_lw_host_timeout > 0) {
		m->m_presence = presence_new(m->m_loop, m->m_mc, cfg->pub_lw_host_timeout);
		api_set_presence(m->m_api, m->m_presence);
	}
	cfg_http_server_opts(cfg, &hso);
	m->m_srv = http_server_new(m->m_loop, &hso, api_handle, m->m_api, err, sizeof(err));
	if (m->m_srv == NULL) {
		log_errorx("%s", err);
		return 1;
	}
	api_set_server(m->m_api, m->m_srv);
	mqtt_client_on_congestion(m->m_mc, main_congestion, m->m_srv);
	loop_set_before_sleep(m->m_loop, main_before_sleep, m);
	return MAIN_GO_ON;
}

/* Up to shutdown.grace for the broker link to close and deliveries to end. */
static void main_shutdown(struct main_ctx *m)
{
	const unsigned grace = m->m_cfg.shutdown_grace;
	struct webhook_stats ws;
	uint64_t deadline;

	log_info("%s: shutting down (up to %u s)", got_stop == SIGINT ? "SIGINT" : "SIGTERM",
	         grace);
	http_server_stop_accepting(m->m_srv);
	mqtt_client_stop(m->m_mc);
	deadline = loop_clock_ms() + (uint64_t)grace * 1000;
	/* The broker link closes; webhook deliveries already queued go out. */
	for (;;) {
		webhook_stats(m->m_wh, &ws);
		if ((mqtt_client_stopped(m->m_mc) && ws.pending == 0) ||
		    loop_clock_ms() >= deadline)
			break;
		loop_run_once(m->m_loop, 100);
	}
	if (!mqtt_client_stopped(m->m_mc))
		log_warnx("shutdown.grace (%u s) passed before the broker connection closed",
		          grace);
	if (ws.pending > 0)
		log_warnx("%llu webhook delivery(ies) not made at shutdown",
		          (unsigned long long)ws.pending);
	/*
	 * The answers of the last pass wait for a sync the loop would have
	 * made before its next select(): make it, and send them (as far as
	 * the sockets take them at once) before the connections close.
	 */
	main_before_sleep(m->m_loop, m);
}

/* Connect and serve until SIGTERM/SIGINT, then shut down. */
static void main_run(struct main_ctx *m)
{
	const struct cfg *cfg = &m->m_cfg;
	char listen_addr[NET_ADDR_LEN], broker_addr[NET_ADDR_LEN];

	log_info("octomqttd %s: listening on %s, broker %s", PACKAGE_VERSION,
	         net_addr_text(cfg->http_listen_host, cfg->http_listen_port, listen_addr,
	                       sizeof(listen_addr)),
	         net_addr_text(cfg->broker_host, cfg->broker_port, broker_addr,
	                       sizeof(broker_addr)));
	mqtt_client_start(m->m_mc);
	m->m_ran = true;
	/* select() returns early on a signal (EINTR), so flags are seen at once. */
	while (!got_stop) {
		loop_run_once(m->m_loop, 1000);
		log_flush_limits(false);
		if (got_hup) {
			got_hup = 0;
			log_info("SIGHUP ignored; restart octomqttd to reload its configuration");
		}
	}
	main_shutdown(m);
}

/*
 * The one way out, after an error or the run: frees what was set up, in
 * the reverse order (what was not is NULL), and returns status.
 */
static int main_exit(struct main_ctx *m, int status)
{
	if (m->m_mc != NULL)
		mqtt_client_on_congestion(m->m_mc, NULL, NULL); /* the server goes first */
	if (m->m_loop != NULL)
		loop_set_before_sleep(m->m_loop, NULL, NULL);
	http_server_free(m->m_srv);
	presence_free(m->m_presence);
	api_free(m->m_api);
	subs_free(m->m_subs);
	webhook_free(m->m_wh);
	registry_free(m->m_reg);
	mqtt_client_free(m->m_mc);
	tls_conf_free(m->m_broker_tls);
	loop_free(m->m_loop);
	cfg_free(&m->m_cfg);
	if (m->m_ran) {
		log_flush_limits(true);
		log_info("stopped");
	}
	return status;
}

int main(int argc, char **argv)
{
	struct main_ctx m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.m_path = DEFAULT_CONFIG;
	if ((rc = main_args(&m, argc, argv)) != MAIN_GO_ON ||
	    (rc = main_config(&m)) != MAIN_GO_ON || (rc = main_setup_broker(&m)) != MAIN_GO_ON ||
	    (rc = main_setup_subs(&m)) != MAIN_GO_ON || (rc = main_setup_http(&m)) != MAIN_GO_ON)
		return main_exit(&m, rc);
	main_run(&m);
	return main_exit(&m, 0);
}
