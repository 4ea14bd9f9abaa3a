"""
Django Channels, as its users would fan out: daphne, channels_redis and
group_send. Subscribers join the group "fan"; a message on /pub goes to the
group, then "ok" goes back to the publisher. Run with daphne:

    REDIS_URL=redis://127.0.0.1:6379/0 daphne -b 127.0.0.1 -p PORT channels_broadcast:application
"""

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["*"], INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                "CONFIG": {"hosts": [os.environ["REDIS_URL"]]}}},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class Subscriber(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("fan", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("fan", self.channel_name)

    async def fan_message(self, event):
        await self.send(text_data=event["text"])


class Publisher(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send("fan", {"type": "fan.message", "text": text_data})
        await self.send(text_data="ok")


application = URLRouter([path("pub", Publisher.as_asgi()), path("<path:rest>", Subscriber.as_asgi()),
                         path("", Subscriber.as_asgi())])
