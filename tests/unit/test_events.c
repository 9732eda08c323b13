/*
 * test_events: the event-name rule, the class table of DESIGN §5.1 (every
 * class, the first and last name of each list, near misses) and the name
 * lists of publish.events_exclude / publish.retain.
 */
#include <string.h>

#include "config.h"

#include "compat.h"
#include "events.h"
#include "check_compat.h"

static const struct {
	const char *name;
	enum events_class cls;
} classes[] = {
        {"Startup", EVENTS_SERVER},
        {"PrinterStateChanged", EVENTS_COMM},
        {"UpdatedFiles", EVENTS_FILES},
        {"PrintDone", EVENTS_PRINTJOB},
        {"ZChange", EVENTS_GCODE},
        {"MovieFailed", EVENTS_TIMELAPSE},
        {"SlicingDone", EVENTS_SLICING},
        {"SettingsUpdated", EVENTS_SETTINGS},
        /* The first and last name of each class's list. */
        {"Shutdown", EVENTS_SERVER},
        {"ConnectivityChanged", EVENTS_SERVER},
        {"Connecting", EVENTS_COMM},
        {"Upload", EVENTS_FILES},
        {"TransferDone", EVENTS_FILES},
        {"PrintStarted", EVENTS_PRINTJOB},
        {"PrintResumed", EVENTS_PRINTJOB},
        {"PowerOn", EVENTS_GCODE},
        {"ToolChange", EVENTS_GCODE},
        {"CaptureStart", EVENTS_TIMELAPSE},
        {"SlicingStarted", EVENTS_SLICING},
        {"SlicingProfileModified", EVENTS_SLICING},
        /* Prefixes and extensions of names are not those names. */
        {"PrintStart", EVENTS_UNCLASSIFIED},
        {"PrintStartedX", EVENTS_UNCLASSIFIED},
        {"Connect", EVENTS_UNCLASSIFIED},
        {"", EVENTS_UNCLASSIFIED},
        {"UserLoggedIn", EVENTS_UNCLASSIFIED},
        {"Print", EVENTS_UNCLASSIFIED},
        {"Done", EVENTS_UNCLASSIFIED},
};

START_TEST(event_classes)
{
	ck_assert_msg(events_class(classes[_i].name, strlen(classes[_i].name)) == classes[_i].cls,
	              "%s", classes[_i].name);
}
END_TEST

START_TEST(event_names)
{
	char longest[EVENTS_NAME_MAX + 1];

	memset(longest, 'a', sizeof(longest));
	ck_assert(events_name_valid("PrintDone", 9));
	ck_assert(events_name_valid("a.b-c_D9", 8));
	ck_assert(events_name_valid(longest, EVENTS_NAME_MAX));
	ck_assert(!events_name_valid(longest, EVENTS_NAME_MAX + 1));
	ck_assert(!events_name_valid("", 0));
	ck_assert(!events_name_valid("A B", 3));
	ck_assert(!events_name_valid("a/b", 3));
	ck_assert(!events_name_valid("a+", 2));
}
END_TEST

START_TEST(name_lists)
{
	char upload[] = "Upload", zchange[] = "ZChange";
	char *list[] = {upload, zchange, NULL};
	char *empty[] = {NULL};

	ck_assert(events_listed(list, "Upload", 6));
	ck_assert(events_listed(list, "ZChange", 7));
	ck_assert(!events_listed(list, "upload", 6));
	ck_assert(!events_listed(list, "Uploa", 5));
	ck_assert(!events_listed(list, "Uploads", 7));
	ck_assert(!events_listed(empty, "Upload", 6));
	ck_assert(!events_listed(NULL, "Upload", 6));
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *tc = tcase_create("events");

	tcase_add_loop_test(tc, event_classes, 0, (int)nitems(classes));
	tcase_add_test(tc, event_names);
	tcase_add_test(tc, name_lists);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(events_suite)
