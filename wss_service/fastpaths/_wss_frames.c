/*
 * The short road's per-message work, compiled: reading (the transport's
 * doRead, ShortRoad's dataReceived and _takeShortFrames: finding whole
 * short frames, unmasking them, checking their UTF-8, counting them and
 * calling the app's onMessage), building outgoing frames, and sending a
 * built frame (as frames.py's pythonSendShort and sendPrepared do, with
 * writethrough.py's write where the connection has it).
 * Optional: where it is not built, wss_service/fastpaths/frames.py does the
 * same in Python, and the tests hold the two to the same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <errno.h>

/* Raised with frames.py when what it expects of this module changes. */
#define API 5

/* Two things here read CPython's own structures as Python 3.11 lays them
 * out (sendAll's memory, a dict's version; add(), an int's digit); on
 * other versions they are left out, and the same work is done the long
 * way. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define CPYTHON_311 1
#else
#define CPYTHON_311 0
#endif

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

/* The next whole short frame at *position in data (size bytes): 1 with
 * its unmasked payload in *payload, *binary set and *position moved past
 * it; 0 where the run of short frames ends there, *waiting telling
 * whether Autobahn has nothing to do with what follows until more data
 * comes (text that is not UTF-8, when validate, ends the run); -1 with an
 * exception. */
static int
nextFrame(const unsigned char *data, Py_ssize_t size, Py_ssize_t *position, Py_ssize_t limit,
          int validate, PyObject **payload, int *binary, int *waiting)
{
    Py_ssize_t at = *position;
    *waiting = 1;
    if (size - at < 2)
        return 0;
    unsigned char first = data[at], second = data[at + 1];
    if ((first != TEXT && first != BINARY) || !(second & MASKED)) {
        *waiting = 0;
        return 0;
    }
    Py_ssize_t length = second & 0x7F, start;
    if (length < 126) {
        start = at + 6;
    } else if (length == 126) {
        start = at + 8;
        if (size < start)
            return 0;
        length = (data[at + 2] << 8) | data[at + 3];
        if (length < 126) {
            *waiting = 0;
            return 0;
        }
    } else {
        *waiting = 0;
        return 0;
    }
    if (length > limit) {
        *waiting = 0;
        return 0;
    }
    if (size < start + length) {
        /* Autobahn checks the UTF-8 of text as it comes, failing fast. */
        *waiting = first == BINARY;
        return 0;
    }
    PyObject *unmaskedPayload = unmasked(data + start - 4, data + start, length);
    if (unmaskedPayload == NULL)
        return -1;
    if (first == TEXT && validate
        && !isUtf8((const unsigned char *)PyBytes_AS_STRING(unmaskedPayload), length)) {
        Py_DECREF(unmaskedPayload);
        *waiting = 0;
        return 0;
    }
    *payload = unmaskedPayload;
    *binary = first == BINARY;
    *position = start + length;
    return 1;
}

PyDoc_STRVAR(frame_doc,
"frame(payload, isBinary) -> bytes\n\n"
"An unmasked, unfragmented text or binary frame of up to 65535 bytes.");

/* The frame of n bytes of payload (at most 65535), or NULL. */
static PyObject *
framed(const void *payload, Py_ssize_t n, int isBinary)
{
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
        memcpy(o + header, payload, n);
    }
    return out;
}

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
    PyObject *out = NULL;
    if (view.len > 0xFFFF)
        PyErr_SetString(PyExc_ValueError, "payload longer than 65535 bytes");
    else
        out = framed(view.buf, view.len, isBinary);
    PyBuffer_Release(&view);
    return out;
}

/* Set by configure(): Autobahn's open and closed states, frames.py's
 * Counters class and where in its objects the counters are, the transport
 * class whose writes go through, Twisted's tcp.Server.write it queues with,
 * and what Twisted's doRead returns at the end of a stream and on an
 * error. */
static PyObject *openState, *closedState, *shortRoadType, *countersType, *throughType,
    *queueWrite, *connectionDone, *connectionLost;
/* Forgets what sendAll remembers (below), read with the old ones. */
static void forgetAll(void);
#define COUNTERS 10
static Py_ssize_t counterAt[COUNTERS];
enum {
    MESSAGES, FRAMES, APP_OCTETS, WEBSOCKET_OCTETS, WIRE_OCTETS,
    IN_MESSAGES, IN_FRAMES, IN_APP_OCTETS, IN_WEBSOCKET_OCTETS, IN_WIRE_OCTETS,
};
static PyObject *counterNames[COUNTERS];

PyDoc_STRVAR(configure_doc,
"configure(OPEN, CLOSED, ShortRoad, Counters, WriteThroughServer, tcpWrite,\n"
"          CONNECTION_DONE, CONNECTION_LOST)\n\n"
"What the reads and sends compare, count in and call: Autobahn's open and\n"
"closed states, the class sendAll sends to, the traffic counters' class\n"
"that keeps them in slots, the transport class that sends at once, the\n"
"write that queues; and what doRead returns at the end of a stream and on\n"
"an error. The attributes read of a WriteThroughServer must be plain\n"
"values (no data descriptors): its instance's dict and class are read\n"
"directly.");

static PyObject *
configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8 || !PyType_Check(args[2]) || !PyType_Check(args[3]) || !PyType_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(OPEN, CLOSED, ShortRoad, Counters, WriteThroughServer, "
                        "tcpWrite, CONNECTION_DONE, CONNECTION_LOST)");
        return NULL;
    }
    Py_ssize_t at[COUNTERS];
    for (int i = 0; i < COUNTERS; i++) {
        PyObject *slots = ((PyTypeObject *)args[3])->tp_dict;
        PyObject *slot = PyDict_GetItemWithError(slots, counterNames[i]);
        if (slot == NULL || !Py_IS_TYPE(slot, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)slot)->d_member->type != T_OBJECT_EX) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "%R is not a slot of the counters' class",
                             counterNames[i]);
            return NULL;
        }
        at[i] = ((PyMemberDescrObject *)slot)->d_member->offset;
    }
    memcpy(counterAt, at, sizeof(at));
    Py_XSETREF(openState, Py_NewRef(args[0]));
    Py_XSETREF(closedState, Py_NewRef(args[1]));
    Py_XSETREF(shortRoadType, Py_NewRef(args[2]));
    Py_XSETREF(countersType, Py_NewRef(args[3]));
    Py_XSETREF(throughType, Py_NewRef(args[4]));
    Py_XSETREF(queueWrite, Py_NewRef(args[5]));
    Py_XSETREF(connectionDone, Py_NewRef(args[6]));
    Py_XSETREF(connectionLost, Py_NewRef(args[7]));
    forgetAll();
    Py_RETURN_NONE;
}

/* The attribute names read, interned once. */
static PyObject *sBackedUp, *sHubFraming, *sTransport, *sTrafficStats, *sState, *sSendQueue,
    *sOutLimit, *sSendPrepared, *sWrite, *sTLS, *sTempDataLen, *sDataBuffer, *sOffset, *sConnected,
    *sDisconnecting, *sWriteDisconnecting, *sWriteDisconnected, *sFileno, *sBufferSize,
    *sProtocol, *sDataReceived, *sData, *sInLimit, *sCurrentFrame, *sInsideMessage, *sListeners,
    *sAutoPingTimeoutCall, *sAutoPingRestartOnAnyTraffic, *sUtf8validateIncoming,
    *sSendMessage, *sCancelAutoPingTimeoutCall, *sOnMessage, *sTellListeners, *sTakePong,
    *sConsumeData, *sAutobahnDataReceived;

/* object.name, from the instance's dict or else its class's, for objects
 * of the classes configure() vouches have no data descriptors of these
 * names; through Python's getattr for anything else there (and then
 * stored, if given, is cleared). */
static PyObject *
field(PyObject *object, PyObject *name, int *stored)
{
    PyObject **dict = _PyObject_GetDictPtr(object), *value = NULL;
    if (dict != NULL && *dict != NULL) {
        value = PyDict_GetItemWithError(*dict, name);
        if (value == NULL && PyErr_Occurred())
            return NULL;
        if (value == NULL) {
            value = _PyType_Lookup(Py_TYPE(object), name);
            if (value != NULL && Py_TYPE(value)->tp_descr_get != NULL)
                value = NULL;
        }
    }
    if (value != NULL)
        return Py_NewRef(value);
    if (stored != NULL)
        *stored = 0;
    return PyObject_GetAttr(object, name);
}

/* Whether a value read stands for itself: None, or an int, bool or bytes
 * exactly, whose value and truth never change. */
static int
settled(PyObject *value)
{
    return value == Py_None || PyLong_CheckExact(value) || PyBool_Check(value)
        || PyBytes_CheckExact(value);
}

/* field(), and where settledRead is given, it cleared unless the value
 * was stored and is settled. */
static PyObject *
settledField(PyObject *object, PyObject *name, int *settledRead)
{
    PyObject *value = field(object, name, settledRead);
    if (settledRead != NULL && value != NULL && !settled(value))
        *settledRead = 0;
    return value;
}

/* The protocol attributes read, and the one class (by its version tag)
 * last found to have no data descriptor of these names and Python's own
 * attribute lookup: for objects of it, lookup() reads them from the
 * instance's dict, or else its class, as Python would. */
static PyObject **protocolNames[] = {
    &sState, &sBackedUp, &sHubFraming, &sOutLimit, &sSendQueue, &sTrafficStats, &sTransport,
    &sData, &sInLimit, &sCurrentFrame, &sInsideMessage, &sListeners, &sAutoPingTimeoutCall,
    &sAutoPingRestartOnAnyTraffic, &sUtf8validateIncoming,
};
static PyTypeObject *vouchedType;
static unsigned int vouchedTag;

static int
vouched(PyTypeObject *type)
{
    if (type == vouchedType && type->tp_version_tag == vouchedTag
        && (type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
        return 1;
    if (type->tp_getattro != PyObject_GenericGetAttr)
        return 0;
    for (size_t i = 0; i < sizeof(protocolNames) / sizeof(protocolNames[0]); i++) {
        PyObject *found = _PyType_Lookup(type, *protocolNames[i]);
        if (found != NULL && Py_TYPE(found)->tp_descr_set != NULL)
            return 0;
    }
    /* Any change to the class or its bases gives it a new tag; a new
     * class never has an old one. */
    if (type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) {
        vouchedType = type;
        vouchedTag = type->tp_version_tag;
    }
    return 1;
}

/* protocol.name (one of protocolNames) as _PyObject_LookupAttr gives it:
 * 1 with *value, 0 if absent, -1 with an exception. */
static int
lookup(PyObject *protocol, PyObject *name, PyObject **value)
{
    if (vouched(Py_TYPE(protocol))) {
        PyObject **dict = _PyObject_GetDictPtr(protocol);
        if (dict != NULL && *dict != NULL) {
            PyObject *found = PyDict_GetItemWithError(*dict, name);
            if (found == NULL && PyErr_Occurred()) {
                *value = NULL;
                return -1;
            }
            if (found == NULL) {
                found = _PyType_Lookup(Py_TYPE(protocol), name);
                if (found != NULL && Py_TYPE(found)->tp_descr_get != NULL)
                    found = NULL;
            }
            if (found != NULL) {
                *value = Py_NewRef(found);
                return 1;
            }
        }
    }
    return _PyObject_LookupAttr(protocol, name, value);
}

/* protocol.name (one of protocolNames), or NULL with an exception. */
static PyObject *
attribute(PyObject *protocol, PyObject *name)
{
    PyObject *value;
    int found = lookup(protocol, name, &value);
    return found == 0 ? PyObject_GetAttr(protocol, name) : value;
}

/* Counter i of stats += n: in its slot where stats is a Counters. */
static int
add(PyObject *stats, int i, Py_ssize_t n)
{
    PyObject **slot = NULL, *sum;
    if (Py_TYPE(stats) == (PyTypeObject *)countersType) {
        slot = (PyObject **)((char *)stats + counterAt[i]);
        if (*slot == NULL) {
            PyErr_SetObject(PyExc_AttributeError, counterNames[i]);
            return -1;
        }
#if CPYTHON_311
        /* The only reference to a one-digit int: none can see it change. */
        PyLongObject *held = (PyLongObject *)*slot;
        if (PyLong_CheckExact(held) && Py_REFCNT(held) == 1 && Py_SIZE(held) == 1
            && n >= 0 && (uint64_t)held->ob_digit[0] + (uint64_t)n < PyLong_BASE) {
            held->ob_digit[0] += (digit)n;
            return 0;
        }
#endif
        if (PyLong_CheckExact(*slot)) {
            int overflow;
            long long count = PyLong_AsLongLongAndOverflow(*slot, &overflow);
            if (!overflow && count <= LLONG_MAX - n) {
                if ((sum = PyLong_FromLongLong(count + n)) == NULL)
                    return -1;
                Py_SETREF(*slot, sum);
                return 0;
            }
        }
    }
    PyObject *amount = PyLong_FromSsize_t(n);
    if (amount == NULL)
        return -1;
    PyObject *value = slot != NULL ? Py_NewRef(*slot) : PyObject_GetAttr(stats, counterNames[i]);
    sum = value == NULL ? NULL : PyNumber_InPlaceAdd(value, amount);
    Py_XDECREF(value);
    Py_DECREF(amount);
    if (sum == NULL)
        return -1;
    if (slot != NULL) {
        Py_SETREF(*slot, sum);
        return 0;
    }
    int failed = PyObject_SetAttr(stats, counterNames[i], sum);
    Py_DECREF(sum);
    return failed;
}

/* Truth of object.name (by settledField()): 1, 0, or -1 with an exception. */
static int
truth(PyObject *object, PyObject *name, int *settledRead)
{
    PyObject *value = settledField(object, name, settledRead);
    if (value == NULL)
        return -1;
    int result = PyObject_IsTrue(value);
    Py_DECREF(value);
    return result;
}

/* Whether writethrough.py's WriteThroughServer.write would send these
 * bytes at once: 1, 0, or -1 with an exception (settled: as
 * settledField()). */
static int
goesThrough(PyObject *transport, int *settledRead)
{
    if (throughType == NULL || Py_TYPE(transport) != (PyTypeObject *)throughType)
        return 0;
    int t;
    if ((t = truth(transport, sTLS, settledRead)) != 0
        || (t = truth(transport, sTempDataLen, settledRead)) != 0)
        return t < 0 ? -1 : 0;
    PyObject *offset = settledField(transport, sOffset, settledRead);
    if (offset == NULL)
        return -1;
    PyObject *buffer = settledField(transport, sDataBuffer, settledRead);
    Py_ssize_t length = buffer == NULL ? -1 : PyObject_Length(buffer);
    Py_XDECREF(buffer);
    if (length < 0) {
        Py_DECREF(offset);
        return -1;
    }
    Py_ssize_t at = PyLong_AsSsize_t(offset);
    Py_DECREF(offset);
    if (at == -1 && PyErr_Occurred())
        return -1;
    if (at != length)
        return 0;
    if ((t = truth(transport, sConnected, settledRead)) != 1)
        return t;
    if ((t = truth(transport, sDisconnecting, settledRead)) != 0
        || (t = truth(transport, sWriteDisconnecting, settledRead)) != 0
        || (t = truth(transport, sWriteDisconnected, settledRead)) != 0)
        return t < 0 ? -1 : 0;
    return 1;
}

/* The socket's descriptor (by the transport's fileno()), or -1 with an
 * exception. settled: cleared unless fileno is C code (the socket's own
 * method), which runs no Python. */
static int
descriptor(PyObject *transport, int *settledRead)
{
    PyObject *fileno = field(transport, sFileno, NULL);
    if (fileno == NULL)
        return -1;
    if (settledRead != NULL && !PyCFunction_Check(fileno))
        *settledRead = 0;
    PyObject *number = PyObject_CallNoArgs(fileno);
    Py_DECREF(fileno);
    if (number == NULL)
        return -1;
    long fd = PyLong_AsLong(number);
    Py_DECREF(number);
    if (fd == -1 && PyErr_Occurred())
        return -1;
    if (fd < 0 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "fileno() is not a descriptor");
        return -1;
    }
    return (int)fd;
}

/* Count a frame of size bytes (of a payload of length bytes) in stats. */
static int
count(PyObject *stats, Py_ssize_t length, Py_ssize_t size)
{
    return add(stats, MESSAGES, 1) || add(stats, FRAMES, 1) || add(stats, APP_OCTETS, length)
        || add(stats, WEBSOCKET_OCTETS, length) || add(stats, WIRE_OCTETS, size) ? -1 : 0;
}

/* Write a built frame on transport: on descriptor fd at once where
 * fd >= 0, with the transport's write where fd is NOT_THROUGH, as
 * goesThrough() decides where it is UNDECIDED. */
#define NOT_THROUGH -1
#define UNDECIDED -2
static PyObject *
writeOut(PyObject *transport, PyObject *built, int fd)
{
    Py_ssize_t size = PyBytes_GET_SIZE(built);
    if (size == 0)
        fd = NOT_THROUGH;
    if (fd == UNDECIDED) {
        int through = goesThrough(transport, NULL);
        if (through < 0)
            return NULL;
        fd = through ? descriptor(transport, NULL) : NOT_THROUGH;
        if (through && fd < 0)
            return NULL;
    }
    if (fd == NOT_THROUGH)
        return PyObject_CallMethodOneArg(transport, sWrite, built);
    /* Any error leaves the frame to Twisted's queue, which sends again
     * and, if the connection is lost, hears it there. */
    ssize_t sent = send(fd, PyBytes_AS_STRING(built), (size_t)size, 0);
    if (sent == size)
        Py_RETURN_NONE;
    PyObject *rest = sent <= 0 ? Py_NewRef(built)
        : PyBytes_FromStringAndSize(PyBytes_AS_STRING(built) + sent, size - sent);
    if (rest == NULL)
        return NULL;
    PyObject *result = PyObject_CallFunctionObjArgs(queueWrite, transport, rest, NULL);
    Py_DECREF(rest);
    return result;
}

/* Whether a method bound from here (doRead, dataReceived,
 * _takeShortFrames) was called as signature shows, with nargs arguments
 * (self among them), after configure(): 0, or -1 with an exception. */
static int
boundCall(Py_ssize_t nargs, Py_ssize_t wanted, const char *signature)
{
    if (nargs != wanted) {
        PyErr_SetString(PyExc_TypeError, signature);
        return -1;
    }
    if (closedState == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(doRead_doc,
"doRead(self)\n\n"
"WriteThroughServer's: Twisted's tcp.Connection.doRead and _dataReceived in\n"
"one. Up to bufferSize bytes from the socket to the protocol's\n"
"dataReceived, then None; None if there is nothing to read,\n"
"CONNECTION_DONE at the end of the stream, CONNECTION_LOST on an error.");

static PyObject *
doRead(PyObject *unused, PyObject *const *args, Py_ssize_t nargs)
{
    if (boundCall(nargs, 1, "doRead(self)") < 0)
        return NULL;
    PyObject *self = args[0], *limit = field(self, sBufferSize, NULL);
    Py_ssize_t size = limit == NULL ? -1 : PyLong_AsSsize_t(limit);
    Py_XDECREF(limit);
    int fd = size < 0 ? -1 : descriptor(self, NULL);
    if (fd < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "bufferSize is negative");
        return NULL;
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL)
        return NULL;
    ssize_t got;
    /* As Python's socket.recv: retried on EINTR unless a signal handler raises. */
    while ((got = recv(fd, PyBytes_AS_STRING(data), (size_t)size, 0)) < 0 && errno == EINTR) {
        if (PyErr_CheckSignals() < 0) {
            Py_DECREF(data);
            return NULL;
        }
    }
    if (got <= 0) {
        int error = errno;
        Py_DECREF(data);
        if (got == 0)
            return Py_NewRef(connectionDone);
        return error == EWOULDBLOCK || error == EAGAIN ? Py_NewRef(Py_None)
                                                       : Py_NewRef(connectionLost);
    }
    if (got < size && _PyBytes_Resize(&data, got) < 0)
        return NULL;
    PyObject *protocol = field(self, sProtocol, NULL), *result = NULL;
    if (protocol != NULL) {
        result = PyObject_CallMethodOneArg(protocol, sDataReceived, data);
        Py_DECREF(protocol);
    }
    Py_DECREF(data);
    if (result == NULL)
        return NULL;
    /* As Twisted's _dataReceived: what dataReceived returns is not used. */
    Py_DECREF(result);
    Py_RETURN_NONE;
}

/* writeOut() for other compiled modules (the TLS layer's records), through
 * the capsule WRITE_OUT: data is bytes. */
static PyObject *
writeTo(PyObject *transport, PyObject *data)
{
    return writeOut(transport, data, UNDECIDED);
}

static PyObject *
sendBuilt(PyObject *protocol, PyObject *built, Py_ssize_t length)
{
    if (!PyBytes_CheckExact(built)) {
        PyErr_SetString(PyExc_TypeError, "a built frame is bytes");
        return NULL;
    }
    PyObject *stats = attribute(protocol, sTrafficStats);
    if (stats == NULL)
        return NULL;
    int failed = count(stats, length, PyBytes_GET_SIZE(built));
    Py_DECREF(stats);
    PyObject *transport = failed ? NULL : attribute(protocol, sTransport);
    if (transport == NULL)
        return NULL;
    PyObject *result = writeOut(transport, built, UNDECIDED);
    Py_DECREF(transport);
    return result;
}

PyDoc_STRVAR(sendShort_doc,
"sendShort(protocol, built, length)\n\n"
"Count a built frame (of a payload of length bytes) in the connection's\n"
"traffic and write it: to the socket at once where its transport's writes\n"
"go through and nothing waits, else with the transport's write.");

static PyObject *
sendShort(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "sendShort(protocol, built, length)");
        return NULL;
    }
    Py_ssize_t length = PyLong_AsSsize_t(args[2]);
    if (length == -1 && PyErr_Occurred())
        return NULL;
    return sendBuilt(args[0], args[1], length);
}

/* Whether Autobahn's state of the connection is state: 1, 0, or -1. */
static int
inState(PyObject *protocol, PyObject *state)
{
    PyObject *value = attribute(protocol, sState);
    if (value == NULL)
        return -1;
    int result = PyObject_RichCompareBool(value, state, Py_EQ);
    Py_DECREF(value);
    return result;
}

static int
isOpen(PyObject *protocol)
{
    return inState(protocol, openState);
}

/* Truth of protocol.name (one of protocolNames): 1, 0, or -1. */
static int
flag(PyObject *protocol, PyObject *name)
{
    PyObject *value = attribute(protocol, name);
    if (value == NULL)
        return -1;
    int result = PyObject_IsTrue(value);
    Py_DECREF(value);
    return result;
}

/* Falsity of protocol.name (one of protocolNames): 1, 0, or -1. */
static int
unset(PyObject *protocol, PyObject *name)
{
    int result = flag(protocol, name);
    return result < 0 ? -1 : !result;
}

/* protocol.data = data[position:], data being bytes: 0, or -1. */
static int
keepFrom(PyObject *protocol, PyObject *data, Py_ssize_t position)
{
    PyObject *rest = position == 0 ? Py_NewRef(data)
        : PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + position,
                                    PyBytes_GET_SIZE(data) - position);
    if (rest == NULL)
        return -1;
    int failed = PyObject_SetAttr(protocol, sData, rest);
    Py_DECREF(rest);
    return failed;
}

/* Count a message read and tell the app: onMessage(payload, binary), after
 * a keepalive's timeout is called off where any traffic restarts it, and
 * then any listeners. 0, or -1 with an exception. */
static int
deliver(PyObject *protocol, PyObject *payload, int binary)
{
    Py_ssize_t length = PyBytes_GET_SIZE(payload);
    PyObject *stats = attribute(protocol, sTrafficStats);
    if (stats == NULL)
        return -1;
    int failed = add(stats, IN_WEBSOCKET_OCTETS, length) || add(stats, IN_APP_OCTETS, length)
        || add(stats, IN_FRAMES, 1) || add(stats, IN_MESSAGES, 1);
    Py_DECREF(stats);
    int restart = failed ? -1 : flag(protocol, sAutoPingTimeoutCall);
    if (restart > 0)
        restart = flag(protocol, sAutoPingRestartOnAnyTraffic);
    if (restart > 0) {
        PyObject *called = PyObject_CallMethodNoArgs(protocol, sCancelAutoPingTimeoutCall);
        restart = called == NULL ? -1 : 0;
        Py_XDECREF(called);
    }
    if (restart < 0)
        return -1;
    PyObject *args[] = {protocol, payload, binary ? Py_True : Py_False};
    PyObject *result = PyObject_VectorcallMethod(sOnMessage, args, 3, NULL);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    /* Those the app began listening in onMessage hear it too, as on
     * Autobahn's road. */
    int listening = flag(protocol, sListeners);
    if (listening > 0) {
        result = PyObject_VectorcallMethod(sTellListeners, args, 3, NULL);
        Py_XDECREF(result);
        listening = result == NULL ? -1 : 0;
    }
    return listening < 0 ? -1 : 0;
}

/* One pass of frames.py's pythonTakeShortFrames over protocol.data: 1 or 0
 * as it returns, AGAIN where a pong followed the run and was taken (then
 * another pass), -1 with an exception. */
#define AGAIN 2
static int
takePass(PyObject *protocol)
{
    int listening = flag(protocol, sListeners);
    PyObject *data = listening < 0 ? NULL : attribute(protocol, sData);
    if (data == NULL)
        return -1;
    if (listening) {
        int full = PyObject_IsTrue(data);
        Py_DECREF(data);
        return full < 0 ? -1 : !full;
    }
    if (!PyBytes_CheckExact(data)) {
        Py_SETREF(data, PyBytes_FromObject(data));
        if (data == NULL)
            return -1;
    }
    PyObject *limitValue = attribute(protocol, sInLimit);
    Py_ssize_t limit = limitValue == NULL ? -1 : PyLong_AsSsize_t(limitValue);
    Py_XDECREF(limitValue);
    int validate = limit == -1 && PyErr_Occurred() ? -1 : flag(protocol, sUtf8validateIncoming);
    if (validate < 0) {
        Py_DECREF(data);
        return -1;
    }
    /* position: where the frames delivered end; next: where those found end. */
    Py_ssize_t position = 0, next = 0;
    int result = 0, found, binary, waiting = 0;
    PyObject *payload;
    while ((found = nextFrame((const unsigned char *)PyBytes_AS_STRING(data),
                              PyBytes_GET_SIZE(data), &next, limit, validate, &payload,
                              &binary, &waiting)) == 1) {
        if ((listening = flag(protocol, sListeners)) != 0) {
            /* The app began listening: Autobahn's road tells them. */
            Py_DECREF(payload);
            result = listening < 0 ? -1 : 0;
            break;
        }
        position = next;
        int failed = deliver(protocol, payload, binary);
        Py_DECREF(payload);
        int open = failed ? -1 : isOpen(protocol);
        if (open <= 0) {
            result = open < 0 ? -1 : inState(protocol, closedState);
            break;
        }
    }
    /* Even if the app raised: what it was given is consumed. */
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int kept = keepFrom(protocol, data, position);
    if (kept < 0)
        _PyErr_ChainExceptions(type, value, traceback);
    else
        PyErr_Restore(type, value, traceback);
    Py_DECREF(data);
    if (kept < 0 || found < 0)
        return -1;
    if (found == 1)
        return result;
    if (waiting)
        return 1;
    PyObject *pong = PyObject_CallMethodNoArgs(protocol, sTakePong);
    int taken = pong == NULL ? -1 : PyObject_IsTrue(pong);
    Py_XDECREF(pong);
    return taken < 0 ? -1 : taken ? AGAIN : 0;
}

static int
takeShort(PyObject *protocol)
{
    int result;
    while ((result = takePass(protocol)) == AGAIN)
        ;
    return result;
}

PyDoc_STRVAR(takeShortFrames_doc,
"_takeShortFrames(self) -> bool\n\n"
"ShortRoad's, as frames.py's pythonTakeShortFrames: deliver the whole short\n"
"frames at the head of self.data; whether Autobahn has nothing to do until\n"
"more data comes.");

static PyObject *
takeShortFrames(PyObject *unused, PyObject *const *args, Py_ssize_t nargs)
{
    if (boundCall(nargs, 1, "_takeShortFrames(self)") < 0)
        return NULL;
    int result = takeShort(args[0]);
    return result < 0 ? NULL : PyBool_FromLong(result);
}

/* Whether frames.py's pythonDataReceived gives data to the short road:
 * 1, 0, or -1 with an exception. */
static int
readsShort(PyObject *protocol)
{
    int result = flag(protocol, sInLimit);
    if (result > 0)
        result = unset(protocol, sData);
    if (result > 0)
        result = isOpen(protocol);
    if (result > 0) {
        PyObject *frame = attribute(protocol, sCurrentFrame);
        result = frame == NULL ? -1 : frame == Py_None;
        Py_XDECREF(frame);
    }
    if (result > 0)
        result = unset(protocol, sInsideMessage);
    return result;
}

PyDoc_STRVAR(dataReceived_doc,
"dataReceived(self, data)\n\n"
"ShortRoad's, as frames.py's pythonDataReceived: with nothing buffered,\n"
"the frames go straight to the short road, and Autobahn's road takes what\n"
"it leaves; anything else goes to Autobahn's _dataReceived.");

static PyObject *
dataReceived(PyObject *unused, PyObject *const *args, Py_ssize_t nargs)
{
    if (boundCall(nargs, 2, "dataReceived(self, data)") < 0)
        return NULL;
    PyObject *self = args[0], *data = args[1], *result;
    int taken = readsShort(self);
    if (taken < 0)
        return NULL;
    if (!taken) {
        result = PyObject_CallMethodOneArg(self, sAutobahnDataReceived, data);
    } else {
        Py_ssize_t size = PyObject_Size(data);
        PyObject *stats = size < 0 ? NULL : attribute(self, sTrafficStats);
        int failed = stats == NULL || add(stats, IN_WIRE_OCTETS, size)
            || PyObject_SetAttr(self, sData, data) < 0 || (taken = takeShort(self)) < 0;
        Py_XDECREF(stats);
        if (failed)
            return NULL;
        result = taken ? Py_NewRef(Py_None) : PyObject_CallMethodNoArgs(self, sConsumeData);
    }
    if (result == NULL)
        return NULL;
    Py_DECREF(result);
    Py_RETURN_NONE;
}

/* sendMessage's parameters after self, and their defaults. */
#define SEND_PARAMETERS 5
static PyObject *sendParameters[SEND_PARAMETERS];

/* Whether ShortRoad.sendMessage sends this itself (self, payload,
 * isBinary, fragmentSize, sync): a payload of bytes within the short
 * road's limit, whole, not sync, on an open connection with nothing
 * queued. 1, 0, or -1 with an exception. */
static int
sendsShort(PyObject *const *values)
{
    PyObject *self = values[0], *payload = values[1];
    if (!PyBytes_CheckExact(payload) || values[3] != Py_None)
        return 0;
    int result = PyObject_IsTrue(values[4]);
    if (result != 0)
        return result < 0 ? -1 : 0;
    PyObject *limit = attribute(self, sOutLimit);
    Py_ssize_t outLimit = limit == NULL ? -1 : PyLong_AsSsize_t(limit);
    Py_XDECREF(limit);
    if (outLimit == -1 && PyErr_Occurred())
        return -1;
    if (PyBytes_GET_SIZE(payload) > outLimit)
        return 0;
    result = isOpen(self);
    return result > 0 ? unset(self, sSendQueue) : result;
}

PyDoc_STRVAR(sendMessage_doc,
"sendMessage(self, payload, isBinary=False, fragmentSize=None, sync=False,\n"
"            doNotCompress=False)\n\n"
"ShortRoad's, as frames.py's pythonSendMessage: a payload of bytes within\n"
"the short road's limit, whole and not sync, on an open connection with\n"
"nothing queued, framed and sent at once; anything else by the next\n"
"class's sendMessage (Autobahn's).");

static PyObject *
sendMessage(PyObject *unused, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    /* self, then the parameters, as given or by default. */
    PyObject *values[1 + SEND_PARAMETERS] = {NULL, NULL, Py_False, Py_None, Py_False, Py_False};
    if (nargs < 1 || nargs > 1 + SEND_PARAMETERS) {
        PyErr_SetString(PyExc_TypeError, "sendMessage() takes from 1 to 5 arguments after self");
        return NULL;
    }
    memcpy(values, args, nargs * sizeof(PyObject *));
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < keywords; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        int at = 0;
        for (int i = 0; i < SEND_PARAMETERS && !at; i++) {
            int same = name == sendParameters[i]
                ? 1 : PyObject_RichCompareBool(name, sendParameters[i], Py_EQ);
            if (same < 0)
                return NULL;
            if (same)
                at = i + 1;
        }
        if (!at) {
            PyErr_Format(PyExc_TypeError, "sendMessage() got an unexpected keyword argument %R",
                         name);
            return NULL;
        }
        if (at < nargs) {
            PyErr_Format(PyExc_TypeError, "sendMessage() got multiple values for argument %R",
                         name);
            return NULL;
        }
        values[at] = args[nargs + k];
    }
    if (values[1] == NULL) {
        PyErr_SetString(PyExc_TypeError, "sendMessage() missing its argument 'payload'");
        return NULL;
    }
    if (closedState == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        return NULL;
    }
    int isShort = sendsShort(values);
    if (isShort < 0)
        return NULL;
    if (!isShort) {
        PyObject *next = PyObject_CallFunctionObjArgs((PyObject *)&PySuper_Type, shortRoadType,
                                                      values[0], NULL), *result = NULL;
        PyObject *method = next == NULL ? NULL : PyObject_GetAttr(next, sSendMessage);
        if (method != NULL)
            result = PyObject_Vectorcall(method, values + 1, SEND_PARAMETERS, NULL);
        Py_XDECREF(method);
        Py_XDECREF(next);
        return result;
    }
    int isBinary = PyObject_IsTrue(values[2]);
    Py_ssize_t length = PyBytes_GET_SIZE(values[1]);
    PyObject *built = isBinary < 0 ? NULL : framed(PyBytes_AS_STRING(values[1]), length, isBinary);
    if (built == NULL)
        return NULL;
    PyObject *result = sendBuilt(values[0], built, length);
    Py_DECREF(built);
    return result;
}

/* What sending a prepared frame to a connection reads of it, where
 * sendAll remembers it (below); held by the caller for the send. */
typedef struct {
    Py_ssize_t outLimit;
    PyObject *queue, *stats, *transport;
    int fd; /* as writeOut() takes it */
} Road;

/* protocol.sendPrepared(prepared), without its Python frames where the
 * short road is open; open: isOpen(protocol), if known, else -1; road:
 * what is known of the connection (its state then open), or NULL. */
static PyObject *
sendPreparedTo(PyObject *protocol, PyObject *prepared, int open, const Road *road)
{
    if (openState == NULL || !PyTuple_CheckExact(prepared) || PyTuple_GET_SIZE(prepared) != 3
        || !PyBytes_CheckExact(PyTuple_GET_ITEM(prepared, 0))
        || !PyBytes_CheckExact(PyTuple_GET_ITEM(prepared, 2)))
        return PyObject_CallMethodOneArg(protocol, sSendPrepared, prepared);
    Py_ssize_t length = PyBytes_GET_SIZE(PyTuple_GET_ITEM(prepared, 0));
    PyObject *built = PyTuple_GET_ITEM(prepared, 2);
    /* As ShortRoad.sendPrepared decides: the short road, or sendMessage. */
    Py_ssize_t outLimit;
    if (road != NULL) {
        outLimit = road->outLimit;
    } else {
        PyObject *limit = attribute(protocol, sOutLimit);
        if (limit == NULL)
            return NULL;
        outLimit = PyLong_AsSsize_t(limit);
        Py_DECREF(limit);
        if (outLimit == -1 && PyErr_Occurred())
            return NULL;
    }
    if (open < 0 && (open = isOpen(protocol)) < 0)
        return NULL;
    int queued = 1;
    if (open && length <= outLimit) {
        PyObject *queue = road != NULL ? Py_NewRef(road->queue)
            : attribute(protocol, sSendQueue);
        if (queue == NULL)
            return NULL;
        queued = PyObject_IsTrue(queue);
        Py_DECREF(queue);
        if (queued < 0)
            return NULL;
    }
    if (queued)
        return PyObject_CallMethodOneArg(protocol, sSendPrepared, prepared);
    if (road == NULL)
        return sendBuilt(protocol, built, length);
    if (count(road->stats, length, PyBytes_GET_SIZE(built)) < 0)
        return NULL;
    return writeOut(road->transport, built, road->fd);
}

PyDoc_STRVAR(sendPrepared_doc,
"sendPrepared(protocol, prepared)\n\n"
"protocol.sendPrepared(prepared), without its Python frames where the short\n"
"road is open: the prepared frame's very bytes, sent as sendShort sends.");

static PyObject *
sendPrepared(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sendPrepared(protocol, prepared)");
        return NULL;
    }
    return sendPreparedTo(args[0], args[1], -1, NULL);
}

/* Whether sendAll sends to this connection itself: a ShortRoad that is
 * open, not backed up and not framing for the hub. 1, 0, or -1. */
static int
plainMember(PyObject *protocol)
{
    if (shortRoadType == NULL || !PyObject_TypeCheck(protocol, (PyTypeObject *)shortRoadType))
        return 0;
    int open = isOpen(protocol);
    if (open <= 0)
        return open;
    PyObject *value;
    if (lookup(protocol, sBackedUp, &value) < 0)
        return -1;
    int backedUp = value == NULL ? 0 : PyObject_IsTrue(value);
    Py_XDECREF(value);
    if (backedUp)
        return backedUp < 0 ? -1 : 0;
    if (lookup(protocol, sHubFraming, &value) < 0)
        return -1;
    int framing = value != Py_None;
    Py_XDECREF(value);
    return !framing;
}

/*
 * sendAll's memory. Deciding and sending to a plain member reads some
 * sixteen attributes of it and its transport, each a dict lookup, where
 * the send itself is one system call. Between two sends they rarely
 * change, and where they are read from dicts and classes, a change shows:
 * Python 3.11 gives a dict a new version, never handed out before, at
 * every change (PEP 509), and a class a new version tag. So a member's
 * road is remembered with the versions of its dict, its transport's dict
 * and their classes, and used again while all four are unchanged, where
 * every value it was read from stands for itself (settled()) and came
 * from those dicts or classes. The memory holds no reference: it is keyed
 * by the connection's address, and its objects are followed only once
 * the connection's dict is found unchanged (so still holding them).
 * Elsewhere than Python 3.11 every send reads afresh.
 */
#define REMEMBERING CPYTHON_311

typedef struct {
    PyObject *protocol, *protocolDict, *transportDict;
    PyTypeObject *protocolType, *transportType;
    unsigned int protocolTag, transportTag;
    uint64_t protocolVersion, transportVersion;
    Road road;
} Memory;

/* An open-addressed table of memories, looked for in PROBES slots from
 * a connection's own; sized for twice the largest send's members (up to
 * MEMORIES_MAX), all forgotten when it grows. */
#define PROBES 8
#define MEMORIES_MIN 256
#define MEMORIES_MAX (1 << 18)
static Memory *memories;
static size_t memoriesSize;
static PyTypeObject *dequeType;
static Py_ssize_t rememberedSends;

static void
makeRoom(Py_ssize_t members)
{
    size_t size = memoriesSize ? memoriesSize : MEMORIES_MIN;
    while (size < MEMORIES_MAX && size < 2 * (size_t)members)
        size *= 2;
    if (size == memoriesSize)
        return;
    PyMem_Free(memories);
    memories = PyMem_Calloc(size, sizeof(Memory));
    memoriesSize = memories != NULL ? size : 0;
}

static void
forgetAll(void)
{
    if (memories != NULL)
        memset(memories, 0, memoriesSize * sizeof(Memory));
}

/* The i-th slot where a connection's memory may be. */
static Memory *
slot(PyObject *protocol, int i)
{
    uint64_t key = (uint64_t)(uintptr_t)protocol >> 4;
    return memories + ((((key * 0x9E3779B97F4A7C15ULL) >> 32) + i) & (memoriesSize - 1));
}

/* A class's version tag and its dict's version, where both are known. */
static int
versions(PyObject *object, unsigned int *tag, PyObject **dict, uint64_t *version)
{
    PyTypeObject *type = Py_TYPE(object);
    PyObject **at = _PyObject_GetDictPtr(object);
    /* A class changed (or one of its bases) has no version tag until a
     * lookup through CPython's type cache gives it a new one. */
    if (!(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
        (void)_PyType_Lookup(type, sWrite);
    if (!(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || at == NULL || *at == NULL)
        return 0;
    *tag = type->tp_version_tag;
    *dict = *at;
#if CPYTHON_311
    *version = ((PyDictObject *)*at)->ma_version_tag;
#else
    *version = 0;
#endif
    return 1;
}

static int
unchanged(PyObject *object, PyTypeObject *type, unsigned int tag, PyObject *dict,
          uint64_t version)
{
    unsigned int nowTag;
    PyObject *nowDict;
    uint64_t nowVersion;
    return Py_TYPE(object) == type && versions(object, &nowTag, &nowDict, &nowVersion)
        && nowTag == tag && nowDict == dict && nowVersion == version;
}

/* The remembered road of a member, or NULL. */
static Road *
recall(PyObject *protocol)
{
    if (!REMEMBERING || memoriesSize == 0)
        return NULL;
    for (int i = 0; i < PROBES; i++) {
        Memory *m = slot(protocol, i);
        if (m->protocol != protocol)
            continue;
        if (!unchanged(protocol, m->protocolType, m->protocolTag, m->protocolDict,
                       m->protocolVersion))
            return NULL;
        /* Its dict unchanged still holds the road's objects. */
        PyObject *transport = m->road.transport;
        if (Py_TYPE(transport) != m->transportType)
            return NULL;
        if (m->transportType == (PyTypeObject *)throughType
            && !unchanged(transport, m->transportType, m->transportTag, m->transportDict,
                          m->transportVersion))
            return NULL;
        return &m->road;
    }
    return NULL;
}

/* Read what a send to this plain member reads, and remember it where it
 * is settled: its road, or NULL (with no exception) where not. */
static Road *
remember(PyObject *protocol)
{
    if (!REMEMBERING || memoriesSize == 0 || !vouched(Py_TYPE(protocol)))
        return NULL;
    Memory m = {.protocol = protocol, .protocolType = Py_TYPE(protocol)};
    if (!versions(protocol, &m.protocolTag, &m.protocolDict, &m.protocolVersion))
        return NULL;
    int settledRead = 1;
    PyObject **names[] = {&sState, &sBackedUp, &sHubFraming, &sOutLimit,
                          &sSendQueue, &sTrafficStats, &sTransport};
    PyObject *values[7] = {NULL};
    /* The first four decide, the others are objects sends use. */
    for (int i = 0; i < 7 && settledRead; i++) {
        values[i] = i < 4 ? settledField(protocol, *names[i], &settledRead)
            : field(protocol, *names[i], &settledRead);
        if (values[i] == NULL)
            settledRead = 0;
    }
    PyObject *transport = values[6];
    /* Counters and Autobahn's deque: a send counts and asks if anything is
     * queued without running Python code (which could change the road). */
    if (settledRead && (Py_TYPE(values[4]) != dequeType
                        || Py_TYPE(values[5]) != (PyTypeObject *)countersType))
        settledRead = 0;
    if (settledRead) {
        m.road.outLimit = PyLong_AsSsize_t(values[3]);
        m.road.queue = values[4];
        m.road.stats = values[5];
        m.road.transport = transport;
        m.road.fd = NOT_THROUGH;
        m.transportType = Py_TYPE(transport);
        if (m.road.outLimit == -1 && PyErr_Occurred())
            settledRead = 0;
    }
    if (settledRead && m.transportType == (PyTypeObject *)throughType) {
        int through = versions(transport, &m.transportTag, &m.transportDict,
                               &m.transportVersion) ? goesThrough(transport, &settledRead) : -1;
        if (through > 0 && (m.road.fd = descriptor(transport, &settledRead)) < 0)
            settledRead = 0;
        if (through < 0)
            settledRead = 0;
    }
    for (int i = 0; i < 7; i++)
        Py_XDECREF(values[i]);
    /* Read from settled values only, nothing ran that could change them. */
    if (PyErr_Occurred() || !settledRead
        || !unchanged(protocol, m.protocolType, m.protocolTag, m.protocolDict, m.protocolVersion)
        || (m.transportType == (PyTypeObject *)throughType
            && !unchanged(transport, m.transportType, m.transportTag, m.transportDict,
                          m.transportVersion))) {
        PyErr_Clear();
        return NULL;
    }
    Memory *at = slot(protocol, 0);
    for (int i = 0; i < PROBES; i++) {
        if (slot(protocol, i)->protocol == protocol || slot(protocol, i)->protocol == NULL) {
            at = slot(protocol, i);
            break;
        }
    }
    *at = m;
    return &at->road;
}

PyDoc_STRVAR(sendAll_doc,
"sendAll(clients, clientIds, prepared) -> (count, others, failures)\n\n"
"Send the prepared message (frames.prepare) to each of these connections\n"
"(clients: client id -> protocol) that is a ShortRoad, open, not backed up\n"
"and not framing for the hub, as sendPrepared sends. count: how many it\n"
"was handed to; others: the client ids left to the caller (every other\n"
"kind, and those not here); failures: [(client id, exception)] for those\n"
"whose send raised.");

static PyObject *
sendAll(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "sendAll(clients, clientIds, prepared)");
        return NULL;
    }
    PyObject *clients = args[0], *prepared = args[2];
    PyObject *others = PyList_New(0), *failures = PyList_New(0);
    PyObject *ids = PyObject_GetIter(args[1]), *clientId = NULL;
    Py_ssize_t count = 0, members = PyObject_Size(args[1]);
    if (members < 0)
        PyErr_Clear();
    else if (REMEMBERING)
        makeRoom(members);
    if (others == NULL || failures == NULL || ids == NULL)
        goto fail;
    while ((clientId = PyIter_Next(ids)) != NULL) {
        PyObject *protocol = PyDict_GetItemWithError(clients, clientId);
        if (protocol == NULL && PyErr_Occurred())
            goto fail;
        int plain = 0;
        Road *road = NULL, held;
        if (protocol != NULL) {
            Py_INCREF(protocol);
            if ((road = recall(protocol)) != NULL) {
                plain = 1;
                rememberedSends++;
            } else if ((plain = plainMember(protocol)) < 0) {
                /* One it cannot judge, the caller's loop judges (and says why). */
                PyErr_Clear();
                plain = 0;
            } else if (plain) {
                road = remember(protocol);
            }
        }
        if (road != NULL) {
            /* A copy, held: the send may run Python code, sendAll again too. */
            held = *road;
            road = &held;
            Py_INCREF(held.queue);
            Py_INCREF(held.stats);
            Py_INCREF(held.transport);
        }
        PyObject *sent = plain ? sendPreparedTo(protocol, prepared, 1, road) : NULL;
        if (road != NULL) {
            Py_DECREF(held.queue);
            Py_DECREF(held.stats);
            Py_DECREF(held.transport);
        }
        Py_XDECREF(protocol);
        if (!plain) {
            if (PyList_Append(others, clientId) < 0)
                goto fail;
        } else if (sent != NULL) {
            Py_DECREF(sent);
            count++;
        } else {
            /* As the Python loop: this one fails, the others still get it. */
            PyObject *type, *value, *traceback;
            PyErr_Fetch(&type, &value, &traceback);
            PyErr_NormalizeException(&type, &value, &traceback);
            if (traceback != NULL)
                PyException_SetTraceback(value, traceback);
            PyObject *failure = PyTuple_Pack(2, clientId, value);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
            if (failure == NULL || PyList_Append(failures, failure) < 0) {
                Py_XDECREF(failure);
                goto fail;
            }
            Py_DECREF(failure);
        }
        Py_CLEAR(clientId);
    }
    if (PyErr_Occurred())
        goto fail;
    Py_DECREF(ids);
    PyObject *result = Py_BuildValue("(nNN)", count, others, failures);
    return result;
fail:
    Py_XDECREF(clientId);
    Py_XDECREF(ids);
    Py_XDECREF(others);
    Py_XDECREF(failures);
    return NULL;
}

PyDoc_STRVAR(remembered_doc,
"remembered() -> int\n\n"
"How many of sendAll's sends used a member's remembered road, reading\n"
"nothing of it afresh; always 0 where Python gives dicts no versions.");

static PyObject *
remembered(PyObject *self, PyObject *unused)
{
    return PyLong_FromSsize_t(rememberedSends);
}

static PyMethodDef methods[] = {
    {"frame", (PyCFunction)(void (*)(void))frame, METH_FASTCALL, frame_doc},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL, configure_doc},
    {"sendShort", (PyCFunction)(void (*)(void))sendShort, METH_FASTCALL, sendShort_doc},
    {"sendPrepared", (PyCFunction)(void (*)(void))sendPrepared, METH_FASTCALL, sendPrepared_doc},
    {"sendAll", (PyCFunction)(void (*)(void))sendAll, METH_FASTCALL, sendAll_doc},
    {"remembered", remembered, METH_NOARGS, remembered_doc},
    {NULL, NULL, 0, NULL},
};

/* Methods that other classes take as theirs (module attributes that bind
 * as methods): WriteThroughServer's doRead, ShortRoad's dataReceived,
 * _takeShortFrames and sendMessage. */
static PyMethodDef boundMethods[] = {
    {"doRead", (PyCFunction)(void (*)(void))doRead, METH_FASTCALL, doRead_doc},
    {"dataReceived", (PyCFunction)(void (*)(void))dataReceived, METH_FASTCALL, dataReceived_doc},
    {"_takeShortFrames", (PyCFunction)(void (*)(void))takeShortFrames, METH_FASTCALL,
     takeShortFrames_doc},
    {"sendMessage", (PyCFunction)(void (*)(void))sendMessage, METH_FASTCALL | METH_KEYWORDS,
     sendMessage_doc},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wss_frames",
    "The short road's per-message work, compiled (see wss_service.fastpaths.frames).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__wss_frames(void)
{
    struct { PyObject **name; const char *text; } names[] = {
        {&sBackedUp, "backedUp"}, {&sHubFraming, "hubFraming"}, {&sTransport, "transport"},
        {&sTrafficStats, "trafficStats"}, {&sState, "state"},
        {&sSendQueue, "send_queue"}, {&sOutLimit, "_outLimit"}, {&sSendPrepared, "sendPrepared"},
        {&sWrite, "write"}, {&sTLS, "TLS"}, {&sTempDataLen, "_tempDataLen"},
        {&sDataBuffer, "dataBuffer"}, {&sOffset, "offset"}, {&sConnected, "connected"},
        {&sDisconnecting, "disconnecting"}, {&sWriteDisconnecting, "_writeDisconnecting"},
        {&sWriteDisconnected, "_writeDisconnected"}, {&sFileno, "fileno"},
        {&sBufferSize, "bufferSize"}, {&sProtocol, "protocol"},
        {&sDataReceived, "dataReceived"}, {&sData, "data"}, {&sInLimit, "_inLimit"},
        {&sCurrentFrame, "current_frame"}, {&sInsideMessage, "inside_message"},
        {&sListeners, "_listeners"}, {&sAutoPingTimeoutCall, "autoPingTimeoutCall"},
        {&sAutoPingRestartOnAnyTraffic, "autoPingRestartOnAnyTraffic"},
        {&sUtf8validateIncoming, "utf8validateIncoming"},
        {&sCancelAutoPingTimeoutCall, "_cancelAutoPingTimeoutCall"}, {&sOnMessage, "onMessage"},
        {&sTellListeners, "_tellListeners"}, {&sSendMessage, "sendMessage"},
        {&sendParameters[0], "payload"}, {&sendParameters[1], "isBinary"},
        {&sendParameters[2], "fragmentSize"}, {&sendParameters[3], "sync"},
        {&sendParameters[4], "doNotCompress"},
        {&sTakePong, "_takePong"}, {&sConsumeData, "consumeData"},
        {&sAutobahnDataReceived, "_dataReceived"},
        {&counterNames[MESSAGES], "outgoingWebSocketMessages"},
        {&counterNames[FRAMES], "outgoingWebSocketFrames"},
        {&counterNames[APP_OCTETS], "outgoingOctetsAppLevel"},
        {&counterNames[WEBSOCKET_OCTETS], "outgoingOctetsWebSocketLevel"},
        {&counterNames[WIRE_OCTETS], "outgoingOctetsWireLevel"},
        {&counterNames[IN_MESSAGES], "incomingWebSocketMessages"},
        {&counterNames[IN_FRAMES], "incomingWebSocketFrames"},
        {&counterNames[IN_APP_OCTETS], "incomingOctetsAppLevel"},
        {&counterNames[IN_WEBSOCKET_OCTETS], "incomingOctetsWebSocketLevel"},
        {&counterNames[IN_WIRE_OCTETS], "incomingOctetsWireLevel"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].name == NULL
            && (*names[i].name = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    }
    PyObject *collections = PyImport_ImportModule("collections");
    if (collections == NULL)
        return NULL;
    dequeType = (PyTypeObject *)PyObject_GetAttrString(collections, "deque");
    Py_DECREF(collections);
    if (dequeType == NULL)
        return NULL;
    PyObject *writeCapsule = PyCapsule_New((void *)writeTo, "_wss_frames.WRITE_OUT", NULL);
    if (writeCapsule == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL || PyModule_AddIntConstant(m, "API", API) < 0
        || PyModule_AddIntConstant(m, "REMEMBERING", REMEMBERING) < 0
        || PyModule_AddObjectRef(m, "WRITE_OUT", writeCapsule) < 0)
        Py_CLEAR(m);
    Py_DECREF(writeCapsule);
    for (size_t i = 0; m != NULL && i < sizeof(boundMethods) / sizeof(boundMethods[0]); i++) {
        PyObject *function = PyCFunction_NewEx(&boundMethods[i], NULL, NULL);
        PyObject *method = function == NULL ? NULL : PyInstanceMethod_New(function);
        if (method == NULL || PyModule_AddObjectRef(m, boundMethods[i].ml_name, method) < 0)
            Py_CLEAR(m);
        Py_XDECREF(function);
        Py_XDECREF(method);
    }
    return m;
}
