"""
The hub from a backend, over the HTTP API: standard library only, so that
Django, Flask and cron jobs can use it as it is (copy this file, or import
it from the installed package).

    from wss_service.hub.client import HubClient
    hub = HubClient("http://127.0.0.1:8283", open("/etc/wss/api.key").read().strip())
    hub.bindUid(clientId, "user-42")
    if hub.sendToUid("user-42", "your order shipped")["online"] == 0:
        ...  # no open connection: fall back, e.g. to a WeChat subscription message

The same methods as C{self.hub} in an app, answering at once instead of
with a Deferred; errors raise L{HubClientError}.
"""

import base64
import json
import urllib.error
import urllib.request


class HubClientError(Exception):
    """The API refused a call: C{status} (HTTP), C{code} and the message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _data(data):
    if isinstance(data, bytes):
        return {"data_base64": base64.b64encode(data).decode()}
    return {"data": data}


class HubClient:
    def __init__(self, url, key, timeout=10.0):
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method, **params):
        """POST /api/METHOD with these arguments; the result."""
        request = urllib.request.Request(
            f"{self.url}/api/{method}", data=json.dumps(params).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)["result"]
        except urllib.error.HTTPError as e:
            try:
                error = json.load(e)["error"]
            except (ValueError, KeyError):
                error = {"code": "http", "message": e.reason}
            raise HubClientError(e.code, error["code"], error["message"]) from None

    def sendToClient(self, clientId, data):
        return self.call("send_to_client", client_id=clientId, **_data(data))

    def sendToUid(self, uid, data):
        return self.call("send_to_uid", uid=uid, **_data(data))

    def sendToGroup(self, group, data, exclude=()):
        return self.call("send_to_group", group=group, exclude=list(exclude), **_data(data))

    def sendToAll(self, data, exclude=()):
        return self.call("send_to_all", exclude=list(exclude), **_data(data))

    def bindUid(self, clientId, uid):
        return self.call("bind_uid", client_id=clientId, uid=uid)

    def unbindUid(self, clientId, uid):
        return self.call("unbind_uid", client_id=clientId, uid=uid)

    def joinGroup(self, clientId, group):
        return self.call("join_group", client_id=clientId, group=group)

    def leaveGroup(self, clientId, group):
        return self.call("leave_group", client_id=clientId, group=group)

    def ungroup(self, group):
        return self.call("ungroup", group=group)

    def closeClient(self, clientId, code=1000, reason=""):
        return self.call("close_client", client_id=clientId, code=code, reason=reason)

    def isOnline(self, clientId):
        return self.call("is_online", client_id=clientId)

    def isUidOnline(self, uid):
        return self.call("is_uid_online", uid=uid)

    def getClientIdsByUid(self, uid):
        return self.call("get_client_ids_by_uid", uid=uid)

    def getUidByClientId(self, clientId):
        return self.call("get_uid_by_client_id", client_id=clientId)

    def getClientIdsByGroup(self, group):
        return self.call("get_client_ids_by_group", group=group)

    def getClientCountByGroup(self, group):
        return self.call("get_client_count_by_group", group=group)

    def getAllClientCount(self):
        return self.call("get_all_client_count")

    def getAllUidCount(self):
        return self.call("get_all_uid_count")
