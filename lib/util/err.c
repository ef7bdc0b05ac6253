/*
 * Error names and messages, generated from CW_ERRNO_MAP, and the version.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "util.h"

#define CW__STR2(x) #x
#define CW__STR(x) CW__STR2(x)

CW_API const char *cw_version(void)
{
    return CW__STR(CW_VERSION_MAJOR) "." CW__STR(CW_VERSION_MINOR) "." CW__STR(
        CW_VERSION_PATCH);
}

CW_API unsigned cw_version_int(void)
{
    return CW_VERSION;
}

CW_API const char *cw_strerror(int code)
{
    switch (code) {
    case CW_OK:
        return "success";
#define CW__ERR_MSG(name, num, msg)                                            \
    case num:                                                                  \
        return msg;
        CW_ERRNO_MAP(CW__ERR_MSG)
#undef CW__ERR_MSG
    }
    return "unknown error";
}

CW_API const char *cw_err_name(int code)
{
    switch (code) {
    case CW_OK:
        return "CW_OK";
#define CW__ERR_NAME(name, num, msg)                                           \
    case num:                                                                  \
        return "CW_E" #name;
        CW_ERRNO_MAP(CW__ERR_NAME)
#undef CW__ERR_NAME
    }
    return NULL;
}

static const char *const reject_text[] = {
#define CW__REJ_TEXT(name, msg) msg,
    CW_REJECT_MAP(CW__REJ_TEXT)
#undef CW__REJ_TEXT
};

CW_API const char *cw_reject_reason_str(cw_reject_reason r)
{
    if ((unsigned)r >= CW_REJECT_COUNT)
        return NULL;
    return reject_text[r];
}
