/*
 * OTLP/HTTP reply bodies (opentelemetry-proto docs/specification.md): the
 * ExportTraceServiceResponse of a success, with partial_success when spans
 * were rejected, and the google.rpc.Status of an error, each in the
 * request's content type. Protobuf is encoded with nanopb into the caller's
 * buffer (fixed-size messages, no allocation); JSON is written by hand.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pb_encode.h>
#include <stdio.h>

#include "google/rpc/status.pb.h"
#include "http.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

/* A JSON string of message (escaped), into out; returns its length. */
static size_t json_string(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    if (cap < 3)
        return 0;
    out[k++] = '"';
    for (; *s && k + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[k++] = '\\';
            out[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)snprintf(out + k, cap - k, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
        } else {
            out[k++] = (char)ch;
        }
    }
    out[k++] = '"';
    out[k] = '\0';
    return k;
}

bool cw__otlp_status_body(int ctype, int grpc_code, const char *message, uint8_t *buf,
                          size_t cap, size_t *len)
{
    if (ctype == CW_CT_PROTOBUF) {
        google_rpc_Status st = google_rpc_Status_init_zero;
        st.code = grpc_code;
        snprintf(st.message, sizeof st.message, "%s", message ? message : "");
        pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
        if (!pb_encode(&os, google_rpc_Status_fields, &st))
            return false;
        *len = os.bytes_written;
        return true;
    }
    char msg[600];
    json_string(message ? message : "", msg, sizeof msg);
    int n = snprintf((char *)buf, cap, "{\"code\":%d,\"message\":%s}", grpc_code, msg);
    if (n <= 0 || (size_t)n >= cap)
        return false;
    *len = (size_t)n;
    return true;
}

bool cw__otlp_success_body(int ctype, uint64_t rejected, const char *message, uint8_t *buf,
                           size_t cap, size_t *len)
{
    if (ctype == CW_CT_PROTOBUF) {
        opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse r =
            opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_init_zero;
        if (rejected) {
            r.has_partial_success = true;
            r.partial_success.rejected_spans = (int64_t)rejected;
            snprintf(r.partial_success.error_message, sizeof r.partial_success.error_message,
                     "%s", message ? message : "");
        }
        pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
        if (!pb_encode(&os,
                       opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_fields,
                       &r))
            return false;
        *len = os.bytes_written; /* 0 bytes: an empty message, all accepted */
        return true;
    }
    if (!rejected) {
        if (cap < 3)
            return false;
        memcpy(buf, "{}", 3);
        *len = 2;
        return true;
    }
    /* OTLP JSON: int64 as a decimal string. */
    char msg[600];
    json_string(message ? message : "", msg, sizeof msg);
    int n = snprintf((char *)buf, cap,
                     "{\"partialSuccess\":{\"rejectedSpans\":\"%llu\",\"errorMessage\":%s}}",
                     (unsigned long long)rejected, msg);
    if (n <= 0 || (size_t)n >= cap)
        return false;
    *len = (size_t)n;
    return true;
}
