// Node's ws library echo server. PORT [KEY CERT]
const fs = require("fs");
const { WebSocketServer } = require("ws");
const [port, key, cert] = process.argv.slice(2);
let server;
if (key) {
  server = require("https").createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) });
} else {
  server = require("http").createServer();
}
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
server.listen(Number(port), "127.0.0.1", 4096);
