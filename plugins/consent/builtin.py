"""The rule set of numbers no configured rule set covers: compliance words only.

How this works: STOP, HELP and START must work on every number the gateway
receives on, also those no brand has written a rule set for (a modem's own
number, a long number an application sends from). Those numbers get a
built-in rule set with no programmes and no rules: the default compliance
keywords of :mod:`rules.keywords` in every language, and neutral replies
that name no brand, in English, Swedish, Dutch, German, French, Spanish,
Portuguese and Chinese. A keyword of another language (``HJELP``,
``STOPP`` in Danish) is answered in the default language.

The texts are templates with a version like any rule set's, and the consent
ledger records the version shown: raise :data:`BUILTIN_VERSION` whenever a
text below changes. The rule set is built through the ordinary loader, so
its own checks (required templates, placeholders) apply to it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Final

from rules import RuleSet, loads_ruleset
from rules.ruleset import SentencePolicy

__all__ = [
    "BUILTIN_BRAND",
    "BUILTIN_LANGUAGES",
    "BUILTIN_VERSION",
    "builtin_ruleset",
]

BUILTIN_VERSION: Final = 1
# Never shown (no built-in text says {brand}); a rule set needs one.
BUILTIN_BRAND: Final = "smppd"
# Only selected by the plugin for numbers outside every rule set's scope,
# never through its own: the number is a placeholder the loader requires.
_UNUSED_SCOPE_NUMBER: Final = "000"

_OPT_OUT: Final[Mapping[str, str]] = {
    "en": "You are unsubscribed and will get no further messages from this number."
    " Reply START to resubscribe.",
    "sv": "Du är avregistrerad och får inga fler meddelanden från detta nummer."
    " Svara START för att anmäla dig igen.",
    "nl": "Je bent afgemeld en ontvangt geen berichten meer van dit nummer."
    " Stuur START om je weer aan te melden.",
    "de": "Sie sind abgemeldet und erhalten keine weiteren Nachrichten von dieser Nummer."
    " Antworten Sie START, um sich wieder anzumelden.",
    "fr": "Vous êtes désinscrit et ne recevrez plus de messages de ce numéro."
    " Répondez START pour vous réinscrire.",
    "es": "Te has dado de baja y no recibirás más mensajes de este número."
    " Responde START para volver a suscribirte.",
    "pt": "Cancelou a subscrição e não receberá mais mensagens deste número."
    " Responda START para voltar a subscrever.",
    "zh": "您已退订，将不会再收到此号码的任何短信。回复START可重新订阅。",
}

_HELP: Final[Mapping[str, str]] = {
    "en": "Automated messages from this number. Reply STOP to unsubscribe, START to"
    " resubscribe. Msg&data rates may apply.",
    "sv": "Automatiska meddelanden från detta nummer. Svara STOPP för att avsluta, START"
    " för att anmäla dig igen. Avgift enligt ditt abonnemang.",
    "nl": "Automatische berichten van dit nummer. Stuur STOP om je af te melden, START om"
    " je weer aan te melden. Normale sms-kosten.",
    "de": "Automatische Nachrichten von dieser Nummer. Antworten Sie STOPP zum Abmelden,"
    " START zum erneuten Anmelden. Es können Gebühren anfallen.",
    "fr": "Messages automatiques de ce numéro. Répondez STOP pour vous désinscrire, START"
    " pour vous réinscrire. Coût d'un SMS selon votre forfait.",
    "es": "Mensajes automáticos de este número. Responde BAJA para darte de baja, START"
    " para volver a suscribirte. Pueden aplicarse tarifas de mensajes y datos.",
    "pt": "Mensagens automáticas deste número. Responda SAIR para cancelar, START para"
    " voltar a subscrever. Podem aplicar-se tarifas de mensagens e dados.",
    "zh": "此号码发送自动短信。回TD退订，回复START重新订阅。按标准短信资费收费。",
}

_OPT_IN: Final[Mapping[str, str]] = {
    "en": "You will get messages from this number again. Msg&data rates may apply."
    " Reply HELP for help, STOP to unsubscribe.",
    "sv": "Du får meddelanden från detta nummer igen. Avgift enligt ditt abonnemang."
    " Svara HJÄLP för hjälp, STOPP för att avsluta.",
    "nl": "Je ontvangt weer berichten van dit nummer. Normale sms-kosten."
    " Stuur HULP voor hulp, STOP om je af te melden.",
    "de": "Sie erhalten wieder Nachrichten von dieser Nummer. Es können Gebühren anfallen."
    " Antworten Sie HILFE für Hilfe, STOPP zum Abmelden.",
    "fr": "Vous recevrez à nouveau les messages de ce numéro. Coût d'un SMS selon votre"
    " forfait. Répondez AIDE pour de l'aide, STOP pour vous désinscrire.",
    "es": "Volverás a recibir mensajes de este número. Pueden aplicarse tarifas de mensajes"
    " y datos. Responde AYUDA para obtener ayuda, BAJA para darte de baja.",
    "pt": "Voltará a receber mensagens deste número. Podem aplicar-se tarifas de mensagens"
    " e dados. Responda AJUDA para obter ajuda, SAIR para cancelar.",
    "zh": "您将重新收到此号码的短信，按标准短信资费收费。回复帮助获取帮助，回TD退订。",
}

BUILTIN_LANGUAGES: Final = frozenset(_OPT_OUT)

_TEMPLATES: Final = {"opt_out": _OPT_OUT, "help": _HELP, "opt_in": _OPT_IN}


def _toml(value: str) -> str:
    # A JSON string of printable text is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _document(language: str, sentence_opt_out: SentencePolicy, forward_handled: bool) -> str:
    lines = [
        f"brand = {_toml(BUILTIN_BRAND)}",
        f"default_language = {_toml(language)}",
        f"forward_handled = {'true' if forward_handled else 'false'}",
        "[scope]",
        f"numbers = [{_toml(_UNUSED_SCOPE_NUMBER)}]",
        "[compliance]",
        f"sentence_opt_out = {_toml(sentence_opt_out)}",
    ]
    for name, texts in _TEMPLATES.items():
        lines += [f"[templates.{name}]", f"version = {BUILTIN_VERSION}"]
        lines += [f"text.{lang} = {_toml(text)}" for lang, text in texts.items()]
    return "\n".join(lines) + "\n"


@cache
def builtin_ruleset(
    language: str = "en",
    sentence_opt_out: SentencePolicy = "opt_out",
    forward_handled: bool = False,
) -> RuleSet:
    """The built-in rule set answering in ``language`` where a keyword is shared.

    ``sentence_opt_out`` and ``forward_handled`` mean what they mean in a
    rule set file.
    ``language`` must be one of :data:`BUILTIN_LANGUAGES`. Built once per
    combination: the engine keeps its memo on the rule set.
    """
    if language not in BUILTIN_LANGUAGES:
        known = ", ".join(sorted(BUILTIN_LANGUAGES))
        raise ValueError(f'no built-in replies in "{language}" (built in: {known})')
    document = _document(language, sentence_opt_out, forward_handled)
    return loads_ruleset(document, file="<built-in rule set>")
