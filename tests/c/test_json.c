/* JSON Pointer lookups on a response body, every value type, escapes in
 * strings and keys, string decoding into caller memory, and the errors. */
#include <stdio.h>
#include <string.h>

#include "support.h"

static reqivo_json_value lookup(const reqivo_response *r, const char *ptr, uint32_t want_code) {
  reqivo_error err;
  reqivo_json_value v;
  memset(&v, 0xab, sizeof v);
  v.struct_size = sizeof v;
  uint32_t rc = reqivo_response_json(r, ptr, strlen(ptr), &v, &err);
  CHECKF(rc == want_code, "pointer \"%s\": got %s (%s)", ptr, reqivo_code_name(rc), err.message);
  return v;
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const reqivo_response *r = get(s, "/json", &err);
  CHECK(r != NULL && r->status == 200);
  if (r == NULL) return check_finish("test_json");

  reqivo_json_value v = lookup(r, "/name", REQIVO_OK);
  CHECK_EQ(v.type, REQIVO_JSON_STRING);
  CHECK(v.raw.len == 8 && memcmp(v.raw.ptr, "\"reqivo\"", 8) == 0);
  CHECK((const uint8_t *)v.raw.ptr >= r->body && (const uint8_t *)v.raw.ptr < r->body + r->body_len);

  v = lookup(r, "/version/1", REQIVO_OK);
  CHECK(v.type == REQIVO_JSON_INTEGER && v.integer == 1 && v.number == 1.0);
  v = lookup(r, "/ok", REQIVO_OK);
  CHECK(v.type == REQIVO_JSON_BOOL && v.boolean);
  v = lookup(r, "/none", REQIVO_OK);
  CHECK_EQ(v.type, REQIVO_JSON_NULL);
  v = lookup(r, "/pi", REQIVO_OK);
  CHECK(v.type == REQIVO_JSON_FLOAT && v.number == 3.25);
  v = lookup(r, "/big", REQIVO_OK);
  CHECK(v.type == REQIVO_JSON_INTEGER && v.integer == INT64_MIN);
  v = lookup(r, "/version", REQIVO_OK);
  CHECK(v.type == REQIVO_JSON_ARRAY && v.raw.len == 6 && memcmp(v.raw.ptr, "[0, 1]", 6) == 0);
  v = lookup(r, "", REQIVO_OK);
  CHECK(v.type == REQIVO_JSON_OBJECT && v.raw.len == r->body_len);
  v = lookup(r, "/a~1b/m~0n", REQIVO_OK);
  CHECK_EQ(v.type, REQIVO_JSON_STRING);

  /* Decoding a string: size first, then into a buffer that fits. */
  v = lookup(r, "/text", REQIVO_OK);
  size_t need = 0;
  CHECK_CODE(reqivo_json_string(&v, NULL, 0, &need, &err), REQIVO_ERR_BUFFER_TOO_SMALL);
  const char *want = "tab\tquote\"caf\xc3\xa9 \xf0\x9f\x98\x80";
  CHECK_EQ(need, strlen(want));
  char small[4];
  CHECK_CODE(reqivo_json_string(&v, small, sizeof small, &need, &err), REQIVO_ERR_BUFFER_TOO_SMALL);
  CHECK_ERR(err, REQIVO_ERR_BUFFER_TOO_SMALL, "needs");
  char text[64];
  CHECK_CODE(reqivo_json_string(&v, text, sizeof text, &need, &err), REQIVO_OK);
  CHECK_STR_EQ(text, want);
  reqivo_json_value num = lookup(r, "/pi", REQIVO_OK);
  CHECK_CODE(reqivo_json_string(&num, text, sizeof text, &need, &err), REQIVO_ERR_INVALID_ARGUMENT);

  /* Errors. */
  lookup(r, "name", REQIVO_ERR_INVALID_JSON_POINTER);
  lookup(r, "/a~1b/m~2n", REQIVO_ERR_INVALID_JSON_POINTER);
  lookup(r, "/missing", REQIVO_ERR_JSON_NOT_FOUND);
  lookup(r, "/version/2", REQIVO_ERR_JSON_NOT_FOUND);
  lookup(r, "/version/01", REQIVO_ERR_JSON_NOT_FOUND);
  lookup(r, "/name/x", REQIVO_ERR_JSON_NOT_FOUND);
  reqivo_json_value tiny;
  tiny.struct_size = 4;
  CHECK_CODE(reqivo_response_json(r, "", 0, &tiny, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_response_json(NULL, "", 0, &v, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_response_json(r, "", 0, NULL, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_json_string(NULL, text, sizeof text, &need, &err), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_response_free(r);

  /* A body that is not JSON. */
  r = get(s, "/ok", &err);
  lookup(r, "", REQIVO_ERR_INVALID_JSON);
  reqivo_response_free(r);
  reqivo_session_free(s);

  /* The same lookups on text the caller holds (a binding's copy). */
  const char *doc = "{\"a/b\": [10, {\"m~n\": \"x\\u00e9\"}], \"f\": 1.5}";
  reqivo_json_value jv = {.struct_size = sizeof jv};
  CHECK_CODE(reqivo_json_lookup((const uint8_t *)doc, strlen(doc), "/a~1b/1/m~0n", 12, &jv, &err),
             REQIVO_OK);
  CHECK_EQ(jv.type, REQIVO_JSON_STRING);
  CHECK(jv.raw.ptr >= doc && jv.raw.ptr < doc + strlen(doc)); /* into the caller's text */
  CHECK_CODE(reqivo_json_string(&jv, text, sizeof text, &need, &err), REQIVO_OK);
  CHECK(need == 3 && strcmp(text, "x\xc3\xa9") == 0);
  CHECK_CODE(reqivo_json_lookup((const uint8_t *)doc, strlen(doc), "/a~1b/0", 7, &jv, &err), REQIVO_OK);
  CHECK(jv.type == REQIVO_JSON_INTEGER && jv.integer == 10);
  CHECK_CODE(reqivo_json_lookup((const uint8_t *)doc, strlen(doc), "/f", 2, &jv, &err), REQIVO_OK);
  CHECK(jv.type == REQIVO_JSON_FLOAT && jv.number == 1.5);
  CHECK_CODE(reqivo_json_lookup((const uint8_t *)doc, strlen(doc), "/a~1b/01", 8, &jv, &err),
             REQIVO_ERR_JSON_NOT_FOUND);
  CHECK_CODE(reqivo_json_lookup((const uint8_t *)doc, strlen(doc), "a", 1, &jv, &err),
             REQIVO_ERR_INVALID_JSON_POINTER);
  CHECK_CODE(reqivo_json_lookup((const uint8_t *)"{", 1, "", 0, &jv, &err), REQIVO_ERR_INVALID_JSON);
  return check_finish("test_json");
}
