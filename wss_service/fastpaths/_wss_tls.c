/*
 * The TLS layer's per-read and per-write work, compiled: the write and
 * dataReceived methods of tlstransport.py's CompiledTLSTransport, which put
 * bytes into OpenSSL's memory BIOs, take plaintext and records out, pass
 * plaintext to the protocol above, and records to the TCP transport below
 * (through _wss_frames' write where it is built, which sends at once where
 * nothing waits). Anything but the common case (the handshake, writes
 * waiting for it, the connection's end, OpenSSL's errors) goes to the
 * Python road's methods that bind() is given. It calls the OpenSSL that
 * pyOpenSSL uses, through the function addresses that
 * wss_service/fastpaths/openssl.py passes to bind(); it links no OpenSSL of
 * its own. Optional: where it is not built, wss_service/fastpaths/tlstransport.py
 * does the same through pyOpenSSL's bindings, and the tests hold the two
 * to the same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>

/* Raised with tlstransport.py when what it expects of this module changes. */
#define API 2

static int (*SSL_read_)(void *, void *, int);
static int (*SSL_write_)(void *, const void *, int);
static int (*SSL_pending_)(const void *);
static int (*SSL_get_error_)(const void *, int);
static int (*BIO_read_)(void *, void *, int);
static int (*BIO_write_)(void *, const void *, int);
static long (*BIO_get_mem_data_)(void *, char **);
static int WANT_READ = -1;
/* From bind(): tlstransport.py's _addresses(state); the Python road's
 * write(self, data), Twisted's _write(self, data) for what OpenSSL did not
 * take, the Python road's dataReceived(self, data) and Twisted's
 * _flushReceiveBIO(self); and _wss_frames' write, or NULL. */
static PyObject *addressesOf, *roadWrite, *twistedWrite, *roadDataReceived, *twistedFlush;
static PyObject *(*writeOut)(PyObject *transport, PyObject *data);
static int bound = 0;
/* The attribute names read, interned once. */
static PyObject *sDisconnecting, *sAppSendBuffer, *sLost, *sOpenSSL, *sTLSConnection,
    *sIntoSSL, *sTransport, *sHandshakeDone, *sEnding, *sAborted, *sWrapped, *sDataReceived,
    *sWrite;

PyDoc_STRVAR(bind_doc,
"bind(SSL_read, SSL_write, SSL_pending, SSL_get_error, BIO_read, BIO_write,\n"
"     BIO_get_mem_data, SSL_ERROR_WANT_READ, addresses, write, twistedWrite,\n"
"     dataReceived, twistedFlush, WRITE_OUT)\n\n"
"The addresses of OpenSSL's functions (ints) and the value of\n"
"SSL_ERROR_WANT_READ, as the running OpenSSL has them; what the methods\n"
"call: addresses(state) -> (ssl, into, out) for a connection whose\n"
"__dict__ is state, and keeps them there as (into BIO, addresses); the\n"
"Python road's write(self, data) and dataReceived(self, data), Twisted's\n"
"_write(self, data) and _flushReceiveBIO(self); and _wss_frames' WRITE_OUT\n"
"capsule, or None to write with the transport's write.");

static PyObject *
bind(PyObject *self, PyObject *args)
{
    PyObject *a[7], *calls[5], *capsule;
    int wantRead;
    void *p[7];
    if (!PyArg_ParseTuple(args, "OOOOOOOiOOOOOO:bind", &a[0], &a[1], &a[2], &a[3], &a[4],
                          &a[5], &a[6], &wantRead, &calls[0], &calls[1], &calls[2], &calls[3],
                          &calls[4], &capsule))
        return NULL;
    for (int i = 0; i < 7; i++) {
        p[i] = PyLong_AsVoidPtr(a[i]);
        if (p[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a function address is 0");
            return NULL;
        }
    }
    for (int i = 0; i < 5; i++) {
        if (!PyCallable_Check(calls[i])) {
            PyErr_SetString(PyExc_TypeError, "bind() takes callables after SSL_ERROR_WANT_READ");
            return NULL;
        }
    }
    void *write = NULL;
    if (capsule != Py_None
        && (write = PyCapsule_GetPointer(capsule, "_wss_frames.WRITE_OUT")) == NULL)
        return NULL;
    SSL_read_ = (int (*)(void *, void *, int))p[0];
    SSL_write_ = (int (*)(void *, const void *, int))p[1];
    SSL_pending_ = (int (*)(const void *))p[2];
    SSL_get_error_ = (int (*)(const void *, int))p[3];
    BIO_read_ = (int (*)(void *, void *, int))p[4];
    BIO_write_ = (int (*)(void *, const void *, int))p[5];
    BIO_get_mem_data_ = (long (*)(void *, char **))p[6];
    WANT_READ = wantRead;
    Py_XSETREF(addressesOf, Py_NewRef(calls[0]));
    Py_XSETREF(roadWrite, Py_NewRef(calls[1]));
    Py_XSETREF(twistedWrite, Py_NewRef(calls[2]));
    Py_XSETREF(roadDataReceived, Py_NewRef(calls[3]));
    Py_XSETREF(twistedFlush, Py_NewRef(calls[4]));
    writeOut = (PyObject *(*)(PyObject *, PyObject *))write;
    bound = 1;
    Py_RETURN_NONE;
}

/* The addresses args hold (ints), into out: 0, or -1 with an exception. */
static int
pointers(PyObject *const *args, Py_ssize_t n, void **out)
{
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

/* The __dict__ of a connection (borrowed), or NULL. */
static PyObject *
stateOf(PyObject *self)
{
    PyObject **dict = _PyObject_GetDictPtr(self);
    return dict == NULL || *dict == NULL || !PyDict_CheckExact(*dict) ? NULL : *dict;
}

/* The arguments of a method call (self, data), and self's __dict__ (or
 * NULL) as state: 0, or -1 with an exception. */
static int
methodCall(PyObject *const *args, Py_ssize_t nargs, const char *usage, PyObject **self,
           PyObject **data, PyObject **state)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "bind() was not called");
        return -1;
    }
    *self = args[0];
    *data = args[1];
    *state = stateOf(*self);
    return 0;
}

/* state[name] (borrowed), or NULL with KeyError as Python's state[name]. */
static PyObject *
need(PyObject *state, PyObject *name)
{
    PyObject *value = PyDict_GetItemWithError(state, name);
    if (value == NULL && !PyErr_Occurred())
        PyErr_SetObject(PyExc_KeyError, name);
    return value;
}

/* Whether value is an empty list (no writes wait for the handshake). */
static int
emptyList(PyObject *value)
{
    return PyList_CheckExact(value) && PyList_GET_SIZE(value) == 0;
}

/* The Python road's method call(self, data). */
static PyObject *
road(PyObject *call, PyObject *self, PyObject *data)
{
    return PyObject_CallFunctionObjArgs(call, self, data, NULL);
}

/* The SSL and memory BIOs of the connection whose __dict__ is state, as
 * makeConnection() and addresses() keep them there: 1, 0 where state holds
 * none, or -1 with an exception. */
static int
addressesIn(PyObject *state, void **ssl, void **into, void **out)
{
    PyObject *kept = need(state, sOpenSSL);
    PyObject *connection = kept == NULL ? NULL : need(state, sTLSConnection);
    if (connection == NULL)
        return -1;
    if (!PyTuple_CheckExact(kept) || PyTuple_GET_SIZE(kept) != 2)
        return 0;
    PyObject *current = PyObject_GetAttr(connection, sIntoSSL);
    if (current == NULL)
        return -1;
    PyObject *addresses = current == PyTuple_GET_ITEM(kept, 0)
        ? Py_NewRef(PyTuple_GET_ITEM(kept, 1)) : PyObject_CallOneArg(addressesOf, state);
    Py_DECREF(current);
    if (addresses == NULL)
        return -1;
    int found = PyTuple_CheckExact(addresses) && PyTuple_GET_SIZE(addresses) == 3;
    void *p[3];
    if (found && pointers(((PyTupleObject *)addresses)->ob_item, 3, p) < 0)
        found = -1;
    Py_DECREF(addresses);
    if (found == 1) {
        *ssl = p[0];
        *into = p[1];
        *out = p[2];
    }
    return found;
}

/* What OpenSSL wrote to the BIO out, to the connection's transport: 0,
 * or -1 with an exception. */
static int
passOn(PyObject *state, void *out)
{
    PyObject *records = drain(out);
    if (records == NULL)
        return -1;
    if (records == Py_None) {
        Py_DECREF(records);
        return 0;
    }
    PyObject *transport = need(state, sTransport), *result = NULL;
    if (transport != NULL) {
        Py_INCREF(transport);
        result = writeOut != NULL ? writeOut(transport, records)
                                  : PyObject_CallMethodOneArg(transport, sWrite, records);
        Py_DECREF(transport);
    }
    Py_DECREF(records);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* The plaintext OpenSSL reads from what the BIO into holds, until it wants
 * more (bytes, or None if none); clean is cleared if it answered anything
 * else (close_notify, an alert, an error): its error queue tells what. */
static PyObject *
readPlain(void *ssl, void *into, int *clean)
{
    /* Records are longer than their plaintext: this much holds it all. */
    Py_ssize_t size = BIO_get_mem_data_(into, NULL) + SSL_pending_(ssl) + 1;
    Py_ssize_t used = 0;
    *clean = 1;
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
            *clean = SSL_get_error_(ssl, got) == WANT_READ;
            break;
        }
    }
    if (used == 0) {
        Py_DECREF(plain);
        Py_RETURN_NONE;
    }
    if (used < size && _PyBytes_Resize(&plain, used) < 0)
        return NULL;
    return plain;
}

PyDoc_STRVAR(dataReceived_doc,
"dataReceived(self, data)\n\n"
"CompiledTLSTransport's: the bytes into OpenSSL, plaintext to the\n"
"protocol above, and what OpenSSL answers (close_notify, an alert, an\n"
"error) to Twisted's _flushReceiveBIO. Before the handshake is done,\n"
"while writes wait for it, or as the connection ends: the Python road's.");

static PyObject *
transportDataReceived(PyObject *unused, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *self, *data, *state;
    if (methodCall(args, nargs, "dataReceived(self, data)", &self, &data, &state) < 0)
        return NULL;
    if (state == NULL)
        return road(roadDataReceived, self, data);
    PyObject *done = need(state, sHandshakeDone), *waiting = done ? need(state, sAppSendBuffer) : NULL;
    PyObject *ending = waiting ? need(state, sEnding) : NULL;
    PyObject *lost = ending ? need(state, sLost) : NULL;
    if (lost == NULL)
        return NULL;
    if (done != Py_True || !emptyList(waiting) || ending != Py_False || lost != Py_False)
        return road(roadDataReceived, self, data);
    void *ssl, *into, *out;
    int found = addressesIn(state, &ssl, &into, &out);
    if (found <= 0)
        return found < 0 ? NULL : road(roadDataReceived, self, data);
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int taken = view.len <= INT_MAX && BIO_write_(into, view.buf, (int)view.len) == (int)view.len;
    PyBuffer_Release(&view);
    if (!taken)
        /* The BIO refused the bytes: the Python road offers them again and
         * raises what pyOpenSSL raises. */
        return road(roadDataReceived, self, data);
    int clean;
    PyObject *plain = readPlain(ssl, into, &clean);
    if (plain == NULL)
        return NULL;
    if (passOn(state, out) < 0) {
        Py_DECREF(plain);
        return NULL;
    }
    if (plain != Py_None) {
        PyObject *aborted = need(state, sAborted);
        int up = aborted == NULL ? -1 : PyObject_Not(aborted);
        if (up == 1) {
            PyObject *wrapped = need(state, sWrapped), *result = NULL;
            if (wrapped != NULL) {
                Py_INCREF(wrapped);
                result = PyObject_CallMethodOneArg(wrapped, sDataReceived, plain);
                Py_DECREF(wrapped);
            }
            up = result == NULL ? -1 : 0;
            Py_XDECREF(result);
        }
        if (up < 0) {
            Py_DECREF(plain);
            return NULL;
        }
    }
    Py_DECREF(plain);
    if (!clean)
        /* Twisted's own road asks OpenSSL again, and hears the same. */
        return PyObject_CallOneArg(twistedFlush, self);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(write_doc,
"write(self, data)\n\n"
"CompiledTLSTransport's: Twisted's write and _write in one, data to\n"
"OpenSSL and its records to the transport below; what OpenSSL does not\n"
"take, Twisted's _write offers again, as OpenSSL asks. While writes wait\n"
"for the handshake, after loseConnection or a lost TLS connection, or for\n"
"anything but bytes: the Python road's.");

static PyObject *
transportWrite(PyObject *unused, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *self, *data, *state;
    if (methodCall(args, nargs, "write(self, data)", &self, &data, &state) < 0)
        return NULL;
    if (state == NULL || !PyBytes_CheckExact(data))
        return road(roadWrite, self, data);
    PyObject *disconnecting = need(state, sDisconnecting);
    PyObject *waiting = disconnecting ? need(state, sAppSendBuffer) : NULL;
    PyObject *lost = waiting ? need(state, sLost) : NULL;
    if (lost == NULL)
        return NULL;
    if (disconnecting != Py_False || !emptyList(waiting) || lost != Py_False)
        return road(roadWrite, self, data);
    void *ssl, *into, *out;
    int found = addressesIn(state, &ssl, &into, &out);
    if (found <= 0)
        return found < 0 ? NULL : road(roadWrite, self, data);
    /* The caller holds data, which this call outlives. */
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    int taken = 0;
    /* OpenSSL counts a write of nothing as an error. */
    if (n > 0)
        taken = SSL_write_(ssl, PyBytes_AS_STRING(data), n > INT_MAX ? INT_MAX : (int)n);
    if (passOn(state, out) < 0)
        return NULL;
    if (taken >= n)
        Py_RETURN_NONE;
    PyObject *rest = taken > 0
        ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + taken, n - taken)
        : Py_NewRef(data);
    if (rest == NULL)
        return NULL;
    PyObject *result = road(twistedWrite, self, rest);
    Py_DECREF(rest);
    return result;
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS, bind_doc},
    {NULL, NULL, 0, NULL},
};

/* Methods of CompiledTLSTransport: module attributes that bind as methods. */
static PyMethodDef transportMethods[] = {
    {"dataReceived", (PyCFunction)(void (*)(void))transportDataReceived, METH_FASTCALL,
     dataReceived_doc},
    {"write", (PyCFunction)(void (*)(void))transportWrite, METH_FASTCALL, write_doc},
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
    struct { PyObject **name; const char *text; } names[] = {
        {&sDisconnecting, "disconnecting"}, {&sAppSendBuffer, "_appSendBuffer"},
        {&sLost, "_lostTLSConnection"}, {&sOpenSSL, "_openssl"},
        {&sTLSConnection, "_tlsConnection"}, {&sIntoSSL, "_into_ssl"},
        {&sTransport, "transport"}, {&sHandshakeDone, "_handshakeDone"}, {&sEnding, "_ending"},
        {&sAborted, "_aborted"}, {&sWrapped, "wrappedProtocol"},
        {&sDataReceived, "dataReceived"}, {&sWrite, "write"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].name == NULL
            && (*names[i].name = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL || PyModule_AddIntConstant(m, "API", API) < 0)
        goto failed;
    for (size_t i = 0; i < sizeof(transportMethods) / sizeof(transportMethods[0]); i++) {
        PyObject *function = PyCFunction_NewEx(&transportMethods[i], NULL, NULL);
        PyObject *method = function == NULL ? NULL : PyInstanceMethod_New(function);
        Py_XDECREF(function);
        int added = method == NULL ? -1
            : PyModule_AddObjectRef(m, transportMethods[i].ml_name, method);
        Py_XDECREF(method);
        if (added < 0)
            goto failed;
    }
    return m;
failed:
    Py_XDECREF(m);
    return NULL;
}
