/*
 * events: event names and the class table of DESIGN §5.1 (see events.h).
 *
 * The table is written as one string of names a class, as §5.1 lists
 * them; the first lookup cuts it into a sorted index that bsearch() then
 * uses.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "events.h"
#include "log.h"

/* §5.1: the events of each class (others are unclassified). */
static const struct {
	enum events_class cls;
	const char *names;
} events_classes[] = {
        {EVENTS_SERVER, " Startup Shutdown ClientOpened ClientClosed ConnectivityChanged "},
        {EVENTS_COMM,
         " Connecting Connected Disconnecting Disconnected Error PrinterStateChanged "},
        {EVENTS_FILES, " Upload FileAdded FileRemoved FolderAdded FolderRemoved UpdatedFiles "
                       "MetadataAnalysisStarted MetadataAnalysisFinished FileSelected "
                       "FileDeselected TransferStarted TransferFailed TransferDone "},
        {EVENTS_PRINTJOB,
         " PrintStarted PrintFailed PrintDone PrintCancelled PrintPaused PrintResumed "},
        {EVENTS_GCODE, " PowerOn PowerOff Home ZChange Dwell Waiting Cooling Alert Conveyor "
                       "Eject EStop PositionUpdate ToolChange "},
        {EVENTS_TIMELAPSE, " CaptureStart CaptureFailed CaptureDone MovieRendering MovieFailed "},
        {EVENTS_SLICING, " SlicingStarted SlicingDone SlicingCancelled SlicingFailed "
                         "SlicingProfileAdded SlicingProfileDeleted SlicingProfileModified "},
        {EVENTS_SETTINGS, " SettingsUpdated "},
};

/* The names of events_classes one by one, sorted: built at the first lookup. */
struct events_name {
	const char *name;
	size_t len;
	enum events_class cls;
};
static struct events_name events_index[96];
static size_t events_count;

bool events_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > EVENTS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int events_cmp(const void *a, const void *b)
{
	const struct events_name *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void events_index_build(void)
{
	size_t i;

	for (i = 0; i < nitems(events_classes); i++) {
		const char *p = events_classes[i].names;

		while (*p != '\0') {
			size_t n;

			p += strspn(p, " ");
			n = strcspn(p, " ");
			if (n == 0)
				break;
			if (events_count == nitems(events_index))
				fatalx("events_index is too small");
			events_index[events_count++] = (struct events_name){
			        .name = p, .len = n, .cls = events_classes[i].cls};
			p += n;
		}
	}
	qsort(events_index, events_count, sizeof(events_index[0]), events_cmp);
}

enum events_class events_class(const char *name, size_t len)
{
	struct events_name key = {.name = name, .len = len};
	const struct events_name *hit;

	if (len == 0)
		return EVENTS_UNCLASSIFIED;
	if (events_count == 0)
		events_index_build();
	hit = bsearch(&key, events_index, events_count, sizeof(events_index[0]), events_cmp);
	return hit != NULL ? hit->cls : EVENTS_UNCLASSIFIED;
}

bool events_listed(char *const *list, const char *name, size_t len)
{
	for (; list != NULL && *list != NULL; list++) {
		if (strlen(*list) == len && memcmp(*list, name, len) == 0)
			return true;
	}
	return false;
}
