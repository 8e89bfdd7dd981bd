"""The rules engine: keyword normalisation and matching, rule sets loaded from
TOML, pure decisions.

    from rules import evaluate, load_ruleset, SubscriberState

    ruleset = load_ruleset("config/rules/coffee.toml")      # ConfigError on problems
    decisions = evaluate("Stop 🙏", SubscriberState(), ruleset, now, destination="72000")
    # (OptOut(scope="all", ...), Reply(template="opt_out", ...), Forward(False))
    text = ruleset.render("opt_out", "sv")                   # RenderedReply: text + version

The engine reads no clock and changes nothing: the consent and loyalty
plugins load a :class:`SubscriberState`, evaluate, and persist the decisions.
"""

from rules.engine import (
    NOT_MEMBER_TEMPLATE,
    Answered,
    AskConfirmation,
    Custom,
    Decision,
    FlagForReview,
    Forward,
    Help,
    NoMatch,
    OptIn,
    OptOut,
    PendingQuestion,
    Reply,
    SubscriberState,
    evaluate,
)
from rules.keywords import (
    DEFAULT_KEYWORDS,
    FCC_REVOCATION_WORDS,
    LANGUAGES,
    KeywordAction,
    KeywordEntry,
    keyword_form,
)
from rules.normalise import MAX_MATCH_CHARS, NormalisedText, fold, is_unspaced, normalise
from rules.ruleset import (
    REQUIRED_TEMPLATES,
    Compliance,
    ComplianceOverride,
    Programme,
    Question,
    RenderedReply,
    Rule,
    RuleBook,
    RuleSet,
    Scope,
    Template,
    load_rulebook,
    load_ruleset,
    loads_ruleset,
    render_text,
)
from rules.timing import (
    DEFAULT_POLICY,
    DEFAULT_REGIONS,
    FrequencyCap,
    MarketingPolicy,
    NoMarketingSlot,
    RegionRule,
    Window,
    next_marketing_slot,
    recipient_region,
    recipient_zones,
)

__all__ = [
    "DEFAULT_KEYWORDS",
    "DEFAULT_POLICY",
    "DEFAULT_REGIONS",
    "FCC_REVOCATION_WORDS",
    "LANGUAGES",
    "MAX_MATCH_CHARS",
    "NOT_MEMBER_TEMPLATE",
    "REQUIRED_TEMPLATES",
    "Answered",
    "AskConfirmation",
    "Compliance",
    "ComplianceOverride",
    "Custom",
    "Decision",
    "FlagForReview",
    "Forward",
    "FrequencyCap",
    "Help",
    "KeywordAction",
    "KeywordEntry",
    "MarketingPolicy",
    "NoMarketingSlot",
    "NoMatch",
    "NormalisedText",
    "OptIn",
    "OptOut",
    "PendingQuestion",
    "Programme",
    "Question",
    "RegionRule",
    "RenderedReply",
    "Reply",
    "Rule",
    "RuleBook",
    "RuleSet",
    "Scope",
    "SubscriberState",
    "Template",
    "Window",
    "evaluate",
    "fold",
    "is_unspaced",
    "keyword_form",
    "load_rulebook",
    "load_ruleset",
    "loads_ruleset",
    "next_marketing_slot",
    "normalise",
    "recipient_region",
    "recipient_zones",
    "render_text",
]
