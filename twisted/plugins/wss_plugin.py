from twisted.application.service import ServiceMaker

wss = ServiceMaker("wss", "wss_service.tap", "WebSocket (ws and wss) service", "wss")
