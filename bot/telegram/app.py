"""The PTB `Application` factory: one set of handlers for long polling and the webhook alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.telegram.delivery import TelegramDelivery, TelegramSurface, build_surface
from bot.telegram.handlers import Handlers
from bot.telegram.media import file_url
from core import registry
from storage.models import SurfaceKind

if TYPE_CHECKING:
    from bot.runtime import Runtime

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


class TelegramNotConfigured(Exception):
    """HERALD_TELEGRAM_TOKEN is not set."""


def surface_of(runtime: Runtime) -> TelegramSurface:
    """The surface the workers deliver through, so handlers share its flood state and locks."""
    delivery = runtime.herald.ctx.deliveries.get(SurfaceKind.TELEGRAM)
    if isinstance(delivery, TelegramDelivery):
        return delivery.surface
    surface = build_surface(runtime.settings)
    if surface is None:
        raise TelegramNotConfigured(
            "Set HERALD_TELEGRAM_TOKEN to the token @BotFather gave you (in .env or the "
            "environment), then start again."
        )
    return surface


def menu() -> list[BotCommand]:
    """The / menu: /start, then the commands the registry marks for it."""
    commands = [BotCommand("start", "link this chat to Herald")]
    return commands + [BotCommand(name, summary) for name, summary in registry.commands().menu()]


async def set_menu(application: Application) -> None:  # type: ignore[type-arg]
    await application.bot.set_my_commands(menu())


def build_application(runtime: Runtime, *, polling: bool) -> Application:  # type: ignore[type-arg]
    """The bot: handlers wired to Herald. `polling=False` has no updater (the webhook feeds it)."""
    settings = runtime.settings
    if settings.telegram_token is None:
        raise TelegramNotConfigured(
            "Set HERALD_TELEGRAM_TOKEN to the token @BotFather gave you (in .env or the "
            "environment), then start again."
        )
    builder = (
        Application.builder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(file_url(settings.telegram_api_url))
        # Updates from different chats run side by side; a slow chat never holds another.
        .concurrent_updates(True)
        .request(HTTPXRequest(connection_pool_size=32))
        .get_updates_request(HTTPXRequest(read_timeout=40.0))
        .post_init(set_menu)
    )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    handlers = Handlers(runtime.herald, surface_of(runtime))
    application.add_handler(TypeHandler(Update, handlers.dedup), group=-1)
    application.add_handler(CallbackQueryHandler(handlers.on_callback))
    message = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(message & filters.COMMAND, handlers.on_command))
    application.add_handler(
        MessageHandler(message & filters.TEXT & filters.REPLY, handlers.on_reply)
    )
    application.add_handler(MessageHandler(message & filters.TEXT, handlers.on_text))
    files = (
        filters.PHOTO
        | filters.VIDEO
        | filters.ANIMATION
        | filters.Document.IMAGE
        | filters.Document.VIDEO
    )
    application.add_handler(MessageHandler(message & files, handlers.on_media))
    application.add_error_handler(handlers.on_error)
    return application
