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
with a Deferred. Every failure raises L{HubClientError}: a refusal by the API
(its HTTP status and code), and also no answer within C{timeout} seconds
(C{code} C{timeout}), no connection (C{unreachable}) or an answer that is
not the API's (C{bad_answer}); those have C{status} L{None}.
"""

import base64
import http.client
import json
import socket
import urllib.error
import urllib.request


class HubClientError(Exception):
    """A call failed: C{status} (HTTP, or L{None} without an answer), C{code}, the message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status or 'no answer'} {code}: {message}")
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
                raise HubClientError(e.code, error["code"], error["message"]) from None
            except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
                raise HubClientError(e.code, "http", str(e.reason)) from None
        except (TimeoutError, socket.timeout) as e:
            raise HubClientError(None, "timeout", f"no answer from {self.url} within "
                                 f"{self.timeout}s ({e})") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise HubClientError(None, "timeout", f"no answer from {self.url} within "
                                     f"{self.timeout}s") from None
            raise HubClientError(None, "unreachable", f"cannot reach {self.url}: "
                                 f"{e.reason}") from None
        except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException) as e:
            raise HubClientError(None, "bad_answer", f"{self.url} did not answer as the "
                                 f"hub's API does: {e!r}") from None

    def _send(self, method, data, idempotencyKey, **params):
        if idempotencyKey is not None:
            params["idempotency_key"] = idempotencyKey
        return self.call(method, **params, **_data(data))

    def sendToClient(self, clientId, data, idempotencyKey=None):
        return self._send("send_to_client", data, idempotencyKey, client_id=clientId)

    def sendToUid(self, uid, data, idempotencyKey=None):
        """C{uid}: one uid, or a list of them."""
        return self._send("send_to_uid", data, idempotencyKey, uid=_listed(uid))

    def sendToGroup(self, group, data, exclude=(), idempotencyKey=None):
        """C{group}: one group, or a list of them (each member reached once)."""
        return self._send("send_to_group", data, idempotencyKey, group=_listed(group),
                          exclude=list(exclude))

    def sendToAll(self, data, exclude=(), idempotencyKey=None):
        return self._send("send_to_all", data, idempotencyKey, exclude=list(exclude))

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

    def setSession(self, clientId, session):
        return self.call("set_session", client_id=clientId, session=session)

    def updateSession(self, clientId, session):
        return self.call("update_session", client_id=clientId, session=session)

    def getSession(self, clientId):
        return self.call("get_session", client_id=clientId)

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

    def getUidListByGroup(self, group):
        return self.call("get_uid_list_by_group", group=group)

    def getUidCountByGroup(self, group):
        return self.call("get_uid_count_by_group", group=group)

    def getAllClientCount(self):
        return self.call("get_all_client_count")

    def getAllUidCount(self):
        return self.call("get_all_uid_count")

    def getAllUidList(self):
        return self.call("get_all_uid_list")

    def getAllGroupIdList(self):
        return self.call("get_all_group_id_list")

    def getHistory(self, stream, since=None, limit=None):
        params = {k: v for k, v in (("since", since), ("limit", limit)) if v is not None}
        return self.call("get_history", stream=stream, **params)


def _listed(names):
    """A uid or group as it is; a list, set or tuple of them as a JSON list."""
    return names if isinstance(names, str) else list(names)
