/*
 * The TLS layer's per-read and per-write work, compiled: bytes into OpenSSL's
 * memory BIOs, plaintext and records out, in one call each way. It calls the
 * OpenSSL that pyOpenSSL uses, through the function addresses that
 * wss_service/fastpaths/openssl.py passes to bind(); it links no OpenSSL of
 * its own. Optional: where it is not built, wss_service/fastpaths/tlstransport.py
 * does the same through pyOpenSSL's bindings, and the tests hold the two
 * to the same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>

/* Raised with tlstransport.py when what it expects of this module changes. */
#define API 1

static int (*SSL_read_)(void *, void *, int);
static int (*SSL_write_)(void *, const void *, int);
static int (*SSL_pending_)(const void *);
static int (*SSL_get_error_)(const void *, int);
static int (*BIO_read_)(void *, void *, int);
static int (*BIO_write_)(void *, const void *, int);
static long (*BIO_get_mem_data_)(void *, char **);
static int WANT_READ = -1;
static int bound = 0;

PyDoc_STRVAR(bind_doc,
"bind(SSL_read, SSL_write, SSL_pending, SSL_get_error, BIO_read, BIO_write,\n"
"     BIO_get_mem_data, SSL_ERROR_WANT_READ)\n\n"
"The addresses of OpenSSL's functions (ints), and the value of\n"
"SSL_ERROR_WANT_READ, as the running OpenSSL has them.");

static PyObject *
bind(PyObject *self, PyObject *args)
{
    PyObject *a[7];
    int wantRead;
    void *p[7];
    if (!PyArg_ParseTuple(args, "OOOOOOOi:bind", &a[0], &a[1], &a[2], &a[3], &a[4], &a[5],
                          &a[6], &wantRead))
        return NULL;
    for (int i = 0; i < 7; i++) {
        p[i] = PyLong_AsVoidPtr(a[i]);
        if (p[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a function address is 0");
            return NULL;
        }
    }
    SSL_read_ = (int (*)(void *, void *, int))p[0];
    SSL_write_ = (int (*)(void *, const void *, int))p[1];
    SSL_pending_ = (int (*)(const void *))p[2];
    SSL_get_error_ = (int (*)(const void *, int))p[3];
    BIO_read_ = (int (*)(void *, void *, int))p[4];
    BIO_write_ = (int (*)(void *, const void *, int))p[5];
    BIO_get_mem_data_ = (long (*)(void *, char **))p[6];
    WANT_READ = wantRead;
    bound = 1;
    Py_RETURN_NONE;
}

static int
pointers(PyObject *const *args, Py_ssize_t n, void **out)
{
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "bind() was not called");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsVoidPtr(args[i]);
        if (out[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a null SSL or BIO address");
            return -1;
        }
    }
    return 0;
}

/* Everything the memory BIO `bio` holds, as bytes; None if it holds nothing. */
static PyObject *
drain(void *bio)
{
    long held = BIO_get_mem_data_(bio, NULL);
    if (held <= 0)
        Py_RETURN_NONE;
    if (held > INT_MAX)
        held = INT_MAX;
    PyObject *out = PyBytes_FromStringAndSize(NULL, held);
    if (out == NULL)
        return NULL;
    int got = BIO_read_(bio, PyBytes_AS_STRING(out), (int)held);
    if (got <= 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (got < held && _PyBytes_Resize(&out, got) < 0)
        return NULL;
    return out;
}

PyDoc_STRVAR(read_doc,
"read(ssl, into, out, data) -> (plaintext, records, clean) or None\n\n"
"Puts data into the BIO `into` and reads plaintext (bytes or None) until\n"
"OpenSSL wants more; `clean` is False if OpenSSL answered anything else\n"
"(close_notify, an alert, an error): its error queue tells what. `records`\n"
"is what OpenSSL wrote meanwhile to the BIO `out` (bytes or None). None if\n"
"the BIO did not take the data (nothing was read).");

static PyObject *
tlsRead(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    void *p[3];
    Py_buffer view;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "read(ssl, into, out, data)");
        return NULL;
    }
    if (pointers(args, 3, p) < 0 || PyObject_GetBuffer(args[3], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    void *ssl = p[0], *into = p[1], *out = p[2];
    if (view.len > INT_MAX || BIO_write_(into, view.buf, (int)view.len) != (int)view.len) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    PyBuffer_Release(&view);

    /* Records are longer than their plaintext: this much holds it all. */
    Py_ssize_t size = BIO_get_mem_data_(into, NULL) + SSL_pending_(ssl) + 1;
    Py_ssize_t used = 0;
    int clean = 1;
    PyObject *plain = PyBytes_FromStringAndSize(NULL, size);
    if (plain == NULL)
        return NULL;
    while (SSL_pending_(ssl) > 0 || BIO_get_mem_data_(into, NULL) > 0) {
        if (used == size) {
            size = size * 2;
            if (_PyBytes_Resize(&plain, size) < 0)
                return NULL;
        }
        Py_ssize_t room = size - used;
        int got = SSL_read_(ssl, PyBytes_AS_STRING(plain) + used,
                            room > INT_MAX ? INT_MAX : (int)room);
        if (got > 0) {
            used += got;
        } else {
            clean = SSL_get_error_(ssl, got) == WANT_READ;
            break;
        }
    }
    if (used == 0) {
        Py_DECREF(plain);
        plain = Py_NewRef(Py_None);
    } else if (used < size && _PyBytes_Resize(&plain, used) < 0) {
        return NULL;
    }
    PyObject *records = drain(out);
    if (records == NULL) {
        Py_DECREF(plain);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(3, plain, records, clean ? Py_True : Py_False);
    Py_DECREF(plain);
    Py_DECREF(records);
    return result;
}

PyDoc_STRVAR(write_doc,
"write(ssl, out, data) -> (taken, records)\n\n"
"Gives data to OpenSSL to send; `taken` is how many bytes it took (0 or\n"
"less: none, and its error queue tells why), `records` what it wrote to\n"
"the BIO `out` (bytes or None).");

static PyObject *
tlsWrite(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    void *p[2];
    Py_buffer view;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "write(ssl, out, data)");
        return NULL;
    }
    if (pointers(args, 2, p) < 0 || PyObject_GetBuffer(args[2], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int taken = 0;
    /* OpenSSL counts a write of nothing as an error. */
    if (view.len > 0)
        taken = SSL_write_(p[0], view.buf, view.len > INT_MAX ? INT_MAX : (int)view.len);
    PyBuffer_Release(&view);
    PyObject *records = drain(p[1]);
    if (records == NULL)
        return NULL;
    PyObject *count = PyLong_FromLong(taken), *result = NULL;
    if (count != NULL)
        result = PyTuple_Pack(2, count, records);
    Py_XDECREF(count);
    Py_DECREF(records);
    return result;
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS, bind_doc},
    {"read", (PyCFunction)(void (*)(void))tlsRead, METH_FASTCALL, read_doc},
    {"write", (PyCFunction)(void (*)(void))tlsWrite, METH_FASTCALL, write_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wss_tls",
    "The TLS layer's per-read and per-write work, compiled "
    "(see wss_service.fastpaths.tlstransport).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__wss_tls(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "API", API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
