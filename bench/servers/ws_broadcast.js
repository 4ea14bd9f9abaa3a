// Node's ws broadcasting: a message on /pub goes to every other connection,
// then "ok" goes back to the publisher. PORT
const { WebSocketServer } = require("ws");
const [port] = process.argv.slice(2);
const server = require("http").createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
const subscribers = new Set();
wss.on("connection", (ws, request) => {
  if (request.url === "/pub") {
    ws.on("message", (data) => {
      for (const s of subscribers) s.send(data);
      ws.send("ok");
    });
  } else {
    subscribers.add(ws);
    ws.on("close", () => subscribers.delete(ws));
  }
});
server.listen(Number(port), "127.0.0.1", 4096);
