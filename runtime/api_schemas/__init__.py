"""JSON Schemas (Draft 2020-12) of the answers the apps decode, written from each app's own decoders.

``<app>/<name>.json`` per app (``ios``, ``web``, ``console``) and ``android.json`` (one ``$defs`` entry per
Kotlin class). Each schema names the app file it came from. The client-contract tests validate real
answers against them; they live in the runtime so the runtime's API description can use them too.
"""
from pathlib import Path

DIRECTORY = Path(__file__).parent
