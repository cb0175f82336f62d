"""Language codes and English names accepted by ``input=`` and ``output=``.

Users write an IETF tag (``de``, ``zh``, ``pt-BR``) or an English name (``german``); the
providers want the short code their models are named by. The table is ours: ISO 639-1
codes, plus the two codes argostranslate uses for language variants (``zt``, ``pb``).
"""

from __future__ import annotations

from dgenerate.plugin_api import PluginArgumentError

__all__ = ["LANGUAGES", "resolve_language"]

#: code -> English name
LANGUAGES: dict[str, str] = {
    "af": "afrikaans", "am": "amharic", "ar": "arabic", "az": "azerbaijani",
    "be": "belarusian", "bg": "bulgarian", "bn": "bengali", "bs": "bosnian",
    "ca": "catalan", "cs": "czech", "cy": "welsh", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "eo": "esperanto", "es": "spanish", "et": "estonian",
    "eu": "basque", "fa": "persian", "fi": "finnish", "fr": "french", "ga": "irish",
    "gl": "galician", "gu": "gujarati", "he": "hebrew", "hi": "hindi", "hr": "croatian",
    "ht": "haitian", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "is": "icelandic", "it": "italian", "ja": "japanese", "ka": "georgian", "kk": "kazakh",
    "km": "khmer", "kn": "kannada", "ko": "korean", "ky": "kyrgyz", "la": "latin",
    "lb": "luxembourgish", "lo": "lao", "lt": "lithuanian", "lv": "latvian",
    "mg": "malagasy", "mk": "macedonian", "ml": "malayalam", "mn": "mongolian",
    "mr": "marathi", "ms": "malay", "mt": "maltese", "my": "burmese", "nb": "norwegian",
    "ne": "nepali", "nl": "dutch", "pa": "punjabi", "pl": "polish", "ps": "pashto",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "si": "sinhala", "sk": "slovak",
    "sl": "slovenian", "sq": "albanian", "sr": "serbian", "sv": "swedish", "sw": "swahili",
    "ta": "tamil", "te": "telugu", "tg": "tajik", "th": "thai", "tl": "tagalog",
    "tr": "turkish", "uk": "ukrainian", "ur": "urdu", "uz": "uzbek", "vi": "vietnamese",
    "xh": "xhosa", "yi": "yiddish", "zh": "chinese", "zu": "zulu",
    "zt": "chinese traditional", "pb": "portuguese brazilian",
}

# other spellings of names, and IETF tags whose meaning is more than their first part
_ALIASES = {
    "farsi": "fa", "filipino": "tl", "mandarin": "zh", "simplified chinese": "zh",
    "chinese simplified": "zh", "traditional chinese": "zt", "norwegian bokmal": "nb",
    "brazilian portuguese": "pb", "portuguese (brazil)": "pb", "no": "nb",
    "zh-hant": "zt", "zh-tw": "zt", "zh-hk": "zt", "zh-hans": "zh", "zh-cn": "zh",
    "pt-br": "pb", "iw": "he", "in": "id",
}

_BY_NAME = {name: code for code, name in LANGUAGES.items()} | _ALIASES


def resolve_language(value: str, argument: str) -> str:
    """The code of ``value`` (a code, an IETF tag or an English name, any case)."""
    text = " ".join(str(value).strip().lower().replace("_", "-").split())
    if text in LANGUAGES:
        return text
    if text in _BY_NAME:
        return _BY_NAME[text]
    primary = text.split("-", 1)[0]
    if "-" in text and primary in LANGUAGES:
        return primary
    known = ", ".join(f"{code} ({name})" for code, name in sorted(LANGUAGES.items()))
    raise PluginArgumentError(
        f"translate: {argument}={value!r} is not a language translate knows; give an IETF "
        f"code (e.g. de, zh, pt-BR) or an English language name (e.g. german). Known "
        f"languages: {known}")
