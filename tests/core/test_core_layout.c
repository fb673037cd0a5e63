/* Pins the layout of every plain struct of the plugin ABI (LP64): a change here is an
 * ABI major bump, so it must fail loudly at compile time. */
#include <check.h>
#include <sensord/plugin.h>
#include <stdlib.h>

#define AT(type, member, off) _Static_assert(offsetof(type, member) == (off), #type "." #member)
#define SIZE(type, n)         _Static_assert(sizeof(type) == (n), "sizeof " #type)

#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
AT(sd_value, type, 0);
AT(sd_value, reserved, 4);
AT(sd_value, as.i, 8);
AT(sd_value, as.d, 8);
AT(sd_value, as.s.ptr, 8);
AT(sd_value, as.s.len, 16);
SIZE(sd_value, 24);

AT(sd_field, name, 0);
AT(sd_field, name_len, 8);
AT(sd_field, value, 16);
SIZE(sd_field, 40);

AT(sd_record_view, timestamp_ns, 0);
AT(sd_record_view, key, 8);
AT(sd_record_view, key_len, 16);
AT(sd_record_view, field_count, 24);
AT(sd_record_view, fields, 32);
SIZE(sd_record_view, 40);

AT(sd_schema_view, name, 0);
AT(sd_schema_view, column_count, 8);
AT(sd_schema_view, columns, 16);
AT(sd_schema_view, types, 24);
SIZE(sd_schema_view, 32);

AT(sd_config_key, name, 0);
AT(sd_config_key, type, 8);
AT(sd_config_key, flags, 12);
AT(sd_config_key, default_value, 16);
AT(sd_config_key, min, 24);
AT(sd_config_key, max, 32);
AT(sd_config_key, enum_values, 40);
AT(sd_config_key, description, 48);
SIZE(sd_config_key, 56);

/* The frozen header of the descriptor. */
AT(sd_plugin_descriptor, magic, 0);
AT(sd_plugin_descriptor, abi_major, 4);
AT(sd_plugin_descriptor, abi_minor, 6);
AT(sd_plugin_descriptor, struct_size, 8);
AT(sd_plugin_descriptor, build_traits, 12);
AT(sd_plugin_descriptor, vendor, 16);
AT(sd_plugin_descriptor, name, 24);
AT(sd_plugin_descriptor, version, 32);
AT(sd_plugin_descriptor, description, 40);
AT(sd_plugin_descriptor, kind, 48);
AT(sd_plugin_descriptor, flags, 52);
AT(sd_plugin_descriptor, config_keys, 56);
AT(sd_plugin_descriptor, validate, 64);
AT(sd_plugin_descriptor, init, 72);
AT(sd_plugin_descriptor, start, 80);
AT(sd_plugin_descriptor, process, 88);
AT(sd_plugin_descriptor, pause, 96);
AT(sd_plugin_descriptor, resume, 104);
AT(sd_plugin_descriptor, on_wakeup, 112);
AT(sd_plugin_descriptor, drain, 120);
AT(sd_plugin_descriptor, destroy, 128);
AT(sd_plugin_descriptor, reserved, 136);
SIZE(sd_plugin_descriptor, 200);

/* The host table of ABI 1.0: 48 entries after the two 32-bit header fields. */
AT(sd_host_api, struct_size, 0);
AT(sd_host_api, abi_minor, 4);
AT(sd_host_api, log, 8);
AT(sd_host_api, stage_name, 32);
AT(sd_host_api, asset_dir, 128);
AT(sd_host_api, batch_new, 136);
AT(sd_host_api, batch_count, 208);
AT(sd_host_api, schema_new, 240);
AT(sd_host_api, emit, 272);
AT(sd_host_api, complete, 280);
AT(sd_host_api, counter, 296);
AT(sd_host_api, timer_start, 344);
AT(sd_host_api, wakeup, 360);
AT(sd_host_api, now_mono_ns, 368);
AT(sd_host_api, stopping, 384);
SIZE(sd_host_api, 392);
#endif

_Static_assert(SD_ABI_MAGIC == 0x534E5344u, "magic spells SNSD");
_Static_assert(SD_STATUS_OK == 0 && SD_STATUS_RETRY == 1 && SD_STATUS_FAIL == 2 &&
                   SD_STATUS_DROPPED == 3,
               "status values");
_Static_assert(SD_OK == 0 && SD_BUSY == 1 && SD_ERR == 2, "result values");
_Static_assert(SD_KIND_SOURCE == 1 && SD_KIND_QUERY == 2 && SD_KIND_SINK == 3, "kinds");

START_TEST(host_has_checks_size) {
  sd_host_api host = {.struct_size = (uint32_t)offsetof(sd_host_api, emit)};
  ck_assert(SD_HOST_HAS(&host, schema_view));
  ck_assert(!SD_HOST_HAS(&host, emit));
  host.struct_size = sizeof host;
  ck_assert(SD_HOST_HAS(&host, stopping));
}
END_TEST

START_TEST(descriptor_header_macro) {
  static const sd_plugin_descriptor d = {SD_DESCRIPTOR_HEADER, .name = "x"};
  ck_assert_uint_eq(d.magic, SD_ABI_MAGIC);
  ck_assert_uint_eq(d.abi_major, SD_ABI_MAJOR);
  ck_assert_uint_eq(d.abi_minor, SD_ABI_MINOR);
  ck_assert_uint_eq(d.struct_size, sizeof d);
  ck_assert_uint_eq(d.build_traits, SD_BUILD_TRAITS);
  ck_assert_str_eq(d.vendor, "sensord");
}
END_TEST

int main(void) {
  Suite *s = suite_create("core_layout");
  TCase *tc = tcase_create("abi");
  tcase_add_test(tc, host_has_checks_size);
  tcase_add_test(tc, descriptor_header_macro);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
