/*
 * WssClient: the wss-hub.v1 client for browsers and WeChat mini programs.
 * No dependencies. A <script> tag defines window.WssClient; require() (mini
 * programs, Node) returns it; wss-client.mjs is the ES module form.
 *
 *   var client = new WssClient("wss://example.com/wss", {getToken: fetchToken});
 *   client.on("message", function (data, meta) { ... });   // meta: stream, epoch, offset
 *   client.on("state", function (state) { ... });          // connecting, open, closed
 *   client.on("recovered", function (info) { ... });       // {stream, recovered, missed, lost, ...}
 *   client.send("hello");
 *
 * It reconnects after any close it did not ask for, with full-jitter
 * exponential backoff (0.5 s to 20 s), takes two ping intervals without a
 * frame for a dead connection, asks getToken() for a fresh token on each
 * connection, resumes every stream from its last offset, and queues send()
 * while away (at most maxQueue; send() answers false when full).
 * In a mini program pass {wx: wx}: it then uses wx.connectSocket.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.WssClient = factory();
  }
}(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var PROTOCOL = "wss-hub.v1";
  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 20000;
  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  function utf8Encode(text) {
    var bytes = [];
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
        c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      }
      if (c < 0x80) { bytes.push(c); }
      else if (c < 0x800) { bytes.push(0xc0 | c >> 6, 0x80 | c & 63); }
      else if (c < 0x10000) { bytes.push(0xe0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63); }
      else { bytes.push(0xf0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63); }
    }
    return bytes;
  }

  function toBase64(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i += 3) {
      var n = bytes[i] << 16 | (bytes[i + 1] || 0) << 8 | (bytes[i + 2] || 0);
      out += ALPHABET[n >> 18 & 63] + ALPHABET[n >> 12 & 63] +
        (i + 1 < bytes.length ? ALPHABET[n >> 6 & 63] : "=") +
        (i + 2 < bytes.length ? ALPHABET[n & 63] : "=");
    }
    return out;
  }

  function fromBase64(text) {
    var clean = text.replace(/=+$/, "");
    var bytes = new Uint8Array(Math.floor(clean.length * 3 / 4));
    var bits = 0, value = 0, j = 0;
    for (var i = 0; i < clean.length; i++) {
      value = value << 6 | ALPHABET.indexOf(clean[i]);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes[j++] = value >> bits & 255;
      }
    }
    return bytes.buffer;
  }

  function base64url(text) {
    return toBase64(utf8Encode(text)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A browser WebSocket, or a mini program's SocketTask, behind one shape.
  function browserSocket(WebSocketClass, url, on) {
    var ws = new WebSocketClass(url, PROTOCOL);
    ws.onopen = function () { on.open(); };
    ws.onmessage = function (event) { on.message(event.data); };
    ws.onclose = function (event) { on.close(event.code, event.reason); };
    ws.onerror = function () {};
    return {
      send: function (text) { ws.send(text); },
      close: function (code, reason) { ws.close(code, reason); },
      drop: function () {
        ws.onopen = ws.onmessage = ws.onclose = null;
        try { ws.close(); } catch (e) { /* already closing */ }
      }
    };
  }

  function wxSocket(wx, url, on) {
    var live = true;
    var task = wx.connectSocket({url: url, protocols: [PROTOCOL]});
    task.onOpen(function () { if (live) { on.open(); } });
    task.onMessage(function (res) { if (live) { on.message(res.data); } });
    task.onClose(function (res) { if (live) { live = false; on.close(res.code, res.reason); } });
    task.onError(function () { if (live) { live = false; on.close(1006, "error"); } });
    return {
      send: function (text) { task.send({data: text}); },
      close: function (code, reason) { task.close({code: code, reason: reason}); },
      drop: function () { live = false; task.close({}); }
    };
  }

  function WssClient(url, options) {
    if (!(this instanceof WssClient)) { return new WssClient(url, options); }
    options = options || {};
    this.url = url;
    this.options = options;
    this.positions = {};
    this.queue = [];
    this.maxQueue = options.maxQueue || 1000;
    this.pingInterval = (options.pingInterval || 20) * 1000;
    this.state = "closed";
    this._handlers = {message: [], state: [], recovered: []};
    this._socket = null;
    this._attempt = 0;
    this._stopped = false;
    this._timer = null;
    this._watch = null;
    this._heardAt = 0;
    this._connect();
  }

  WssClient.prototype.on = function (name, fn) {
    if (!this._handlers[name]) { throw new Error("WssClient emits message, state, recovered"); }
    this._handlers[name].push(fn);
    return this;
  };

  WssClient.prototype._emit = function (name) {
    var args = Array.prototype.slice.call(arguments, 1);
    this._handlers[name].forEach(function (fn) { fn.apply(null, args); });
  };

  WssClient.prototype._setState = function (state) {
    if (this.state !== state) {
      this.state = state;
      this._emit("state", state);
    }
  };

  WssClient.prototype._address = function (token) {
    var params = [];
    if (token) { params.push("token=" + encodeURIComponent(token)); }
    if (Object.keys(this.positions).length) {
      params.push("resume=" + base64url(JSON.stringify(this.positions)));
    }
    if (!params.length) { return this.url; }
    return this.url + (this.url.indexOf("?") < 0 ? "?" : "&") + params.join("&");
  };

  WssClient.prototype._connect = function () {
    var self = this;
    this._timer = null;
    this._setState("connecting");
    var options = this.options;
    Promise.resolve(options.getToken ? options.getToken() : options.token).then(function (token) {
      if (self._stopped) { return; }
      var on = {
        open: function () { self._opened(); },
        message: function (text) { self._received(text); },
        close: function () { self._closed(); }
      };
      var url = self._address(token);
      self._socket = options.wx ? wxSocket(options.wx, url, on)
        : browserSocket(options.WebSocket || WebSocket, url, on);
    }, function () {
      self._retry();
    });
  };

  WssClient.prototype._opened = function () {
    var self = this;
    this._attempt = 0;
    this._heardAt = Date.now();
    this._setState("open");
    this._watch = setInterval(function () {
      if (Date.now() - self._heardAt > 2 * self.pingInterval) {
        // Two ping intervals without a frame: the connection is dead.
        self._socket.drop();
        self._closed();
      }
    }, Math.min(this.pingInterval, 5000));
    var queued = this.queue;
    this.queue = [];
    queued.forEach(function (data) { self.send(data); });
  };

  WssClient.prototype._received = function (text) {
    this._heardAt = Date.now();
    var frame = JSON.parse(text);
    if (frame.type === "message") {
      var meta = {};
      if (frame.stream !== undefined) {
        meta = {stream: frame.stream, epoch: frame.epoch, offset: frame.offset};
        var all = [meta].concat(frame.also || []);
        var fresh = all.filter(function (p) { return !this._had(p); }, this);
        if (!fresh.length) { return; }  // had it already, in every stream
        for (var i = 0; i < fresh.length; i++) {
          this.positions[fresh[i].stream] = {epoch: fresh[i].epoch, offset: fresh[i].offset};
        }
      }
      var data = frame.data !== undefined ? frame.data : fromBase64(frame.data_base64);
      this._emit("message", data, meta);
    } else if (frame.type === "position" || frame.type === "recovered") {
      this.positions[frame.stream] = {epoch: frame.epoch, offset: frame.offset};
      if (frame.type === "recovered") { this._emit("recovered", frame); }
    }
  };

  WssClient.prototype._had = function (position) {
    var known = this.positions[position.stream];
    return !!known && known.epoch === position.epoch && position.offset <= known.offset;
  };

  WssClient.prototype._closed = function () {
    if (this._watch) { clearInterval(this._watch); this._watch = null; }
    this._socket = null;
    this._setState("closed");
    if (!this._stopped) { this._retry(); }
  };

  WssClient.prototype._retry = function () {
    var self = this;
    var ceiling = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, this._attempt));
    this._attempt += 1;
    // Full jitter: anywhere from nothing to the ceiling.
    this._timer = setTimeout(function () { self._connect(); }, Math.random() * ceiling);
  };

  WssClient.prototype.send = function (data) {
    if (this.state === "open" && this._socket) {
      var frame = typeof data === "string" ? {type: "message", data: data}
        : {type: "message", data_base64: toBase64(new Uint8Array(data.buffer || data))};
      this._socket.send(JSON.stringify(frame));
      return true;
    }
    if (this.queue.length >= this.maxQueue) { return false; }
    this.queue.push(data);
    return true;
  };

  WssClient.prototype.close = function () {
    this._stopped = true;
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    if (this._watch) { clearInterval(this._watch); this._watch = null; }
    if (this._socket) { this._socket.close(1000, ""); this._socket = null; }
    this._setState("closed");
  };

  WssClient.PROTOCOL = PROTOCOL;
  return WssClient;
}));
