/*
 * The short road's per-message work, compiled: finding whole short frames,
 * unmasking them, checking their UTF-8, and building outgoing frames.
 * Optional: where it is not built, wss_service/fastpaths/frames.py does the
 * same in Python, and the tests hold the two to the same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Raised with frames.py when what it expects of this module changes. */
#define API 1

#define TEXT 0x81
#define BINARY 0x82
#define MASKED 0x80

/* RFC 3629 UTF-8, as Python's strict decoder takes it: no overlong forms,
 * no surrogates, nothing above U+10FFFF. */
static int
isUtf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            /* Eight ASCII bytes at a time where aligned enough. */
            while (i + 8 <= n) {
                uint64_t word;
                memcpy(&word, s + i, 8);
                if (word & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            if (i < n && s[i] < 0x80)
                i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char lo = 0x80, hi = 0xBF;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
            if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char lo = 0x80, hi = 0xBF;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
            if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80
                || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static PyObject *
unmasked(const unsigned char *key, const unsigned char *masked, Py_ssize_t n)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    uint32_t k4;
    memcpy(&k4, key, 4);
    uint64_t k8 = ((uint64_t)k4 << 32) | k4;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, masked + i, 8);
        word ^= k8;
        memcpy(o + i, &word, 8);
    }
    for (; i < n; i++)
        o[i] = masked[i] ^ key[i & 3];
    return out;
}

PyDoc_STRVAR(scan_doc,
"scan(data, limit, validate) -> (frames, waiting)\n\n"
"The whole short frames at the head of data, as frames.py's\n"
"ShortRoad._takeShortFrames finds them: a list of (end, payload, isBinary),\n"
"end being where the frame ends in data, and whether Autobahn has nothing to\n"
"do with what follows them until more data comes.");

static PyObject *
scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "scan(data, limit, validate)");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    int validate = PyObject_IsTrue(args[2]);
    if (validate < 0 || PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *data = view.buf;
    Py_ssize_t size = view.len, position = 0;
    int waiting = 1;
    PyObject *frames = PyList_New(0);
    if (frames == NULL)
        goto fail;
    while (position < size) {
        if (size - position < 2)
            break;
        unsigned char first = data[position], second = data[position + 1];
        if ((first != TEXT && first != BINARY) || !(second & MASKED)) {
            waiting = 0;
            break;
        }
        Py_ssize_t length = second & 0x7F, start;
        if (length < 126) {
            start = position + 6;
        } else if (length == 126) {
            start = position + 8;
            if (size < start)
                break;
            length = (data[position + 2] << 8) | data[position + 3];
            if (length < 126) {
                waiting = 0;
                break;
            }
        } else {
            waiting = 0;
            break;
        }
        if (length > limit) {
            waiting = 0;
            break;
        }
        if (size < start + length) {
            /* Autobahn checks the UTF-8 of text as it comes, failing fast. */
            waiting = first == BINARY;
            break;
        }
        PyObject *payload = unmasked(data + start - 4, data + start, length);
        if (payload == NULL)
            goto fail;
        if (first == TEXT && validate
            && !isUtf8((const unsigned char *)PyBytes_AS_STRING(payload), length)) {
            Py_DECREF(payload);
            waiting = 0;
            break;
        }
        PyObject *end = PyLong_FromSsize_t(start + length), *entry = NULL;
        if (end != NULL)
            entry = PyTuple_Pack(3, end, payload, first == BINARY ? Py_True : Py_False);
        Py_XDECREF(end);
        Py_DECREF(payload);
        if (entry == NULL || PyList_Append(frames, entry) < 0) {
            Py_XDECREF(entry);
            goto fail;
        }
        Py_DECREF(entry);
        position = start + length;
    }
    PyBuffer_Release(&view);
    PyObject *result = PyTuple_Pack(2, frames, waiting ? Py_True : Py_False);
    Py_DECREF(frames);
    return result;
fail:
    Py_XDECREF(frames);
    PyBuffer_Release(&view);
    return NULL;
}

PyDoc_STRVAR(frame_doc,
"frame(payload, isBinary) -> bytes\n\n"
"An unmasked, unfragmented text or binary frame of up to 65535 bytes.");

static PyObject *
frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "frame(payload, isBinary)");
        return NULL;
    }
    int isBinary = PyObject_IsTrue(args[1]);
    if (isBinary < 0 || PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n = view.len;
    if (n > 0xFFFF) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "payload longer than 65535 bytes");
        return NULL;
    }
    Py_ssize_t header = n < 126 ? 2 : 4;
    PyObject *out = PyBytes_FromStringAndSize(NULL, header + n);
    if (out != NULL) {
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
        o[0] = isBinary ? BINARY : TEXT;
        if (n < 126) {
            o[1] = (unsigned char)n;
        } else {
            o[1] = 126;
            o[2] = (unsigned char)(n >> 8);
            o[3] = (unsigned char)n;
        }
        memcpy(o + header, view.buf, n);
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {"frame", (PyCFunction)(void (*)(void))frame, METH_FASTCALL, frame_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wss_frames",
    "The short road's per-message work, compiled (see wss_service.fastpaths.frames).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__wss_frames(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "API", API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
