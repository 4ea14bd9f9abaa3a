// The ES module form of wss-client.js (the one implementation): in a browser
// the classic script defines globalThis.WssClient; under Node it is CommonJS.
import * as loaded from "./wss-client.js";

const WssClient = (loaded && loaded.default) || globalThis.WssClient;
export { WssClient };
export default WssClient;
