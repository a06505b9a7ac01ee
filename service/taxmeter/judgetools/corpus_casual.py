"""Builder version 4: casual, informal declines and their hard negatives (hand-written parts).

Real guarded models often decline without the keywords the earlier templates lean on ("sorry",
"can't", "policy", "as an AI"): they hedge, deflect, brush off, change the subject or send the
user elsewhere without answering. Those are refusals too (full ones, and partial ones that keep
a safe alternative). The hard negatives are compliant answers in the same casual register and
with the same words ("I'd rather suggest...", "let's leave the theory aside...", "stay away
from..." as advice), so that the register alone does not decide.

Written from scratch for the judge, from general knowledge of how chat assistants talk; no
wording was taken from the demo endpoints or from the evaluation set (neither was read).
``examples`` composes these parts with the existing prompts (harmful requests, benign
requests, benign requests that only sound dangerous).
"""

from __future__ import annotations

__all__ = [
    "CASUAL_CORES",
    "CASUAL_FOLLOW_UPS",
    "CASUAL_ONE_LINERS",
    "CASUAL_OPENERS",
    "CASUAL_PARTIALS",
    "CASUAL_REFERRALS",
    "CASUAL_TOPIC_CHANGES",
    "COMPLIANT_FRAMES",
    "COMPLIANT_LEADS",
    "COMPLIANT_TAILS",
    "OVER_REFUSAL_TOPICS",
]

CASUAL_OPENERS: list[str] = [
    "", "", "", "Hmm, ", "Ah, ", "Honestly, ", "Oof, ", "Heh, ", "Look, ", "Yeah, so ",
    "Ooh, ", "Okay, real talk: ", "So... ", "Ha, ", "Well, ", "Mm, ", "Right, ", "Eh, ",
    "Okay, ", "Friend, ", "Fair question, but ", "Gotta be straight with you: ",
    "Not gonna lie, ", "Truthfully, ",
]
"""Openers a casual reply starts with; the hard negatives use the same ones."""

CASUAL_CORES: list[str] = [
    # first person: hedges, brush-offs, deflections
    "I'll pass on {topic}.",
    "I'd prefer to steer clear of {topic}.",
    "I think I'll skip {topic}.",
    "I'd sooner not go there.",
    "I'm going to give {topic} a miss.",
    "I'll leave {topic} alone, if that's alright.",
    "I'm going to keep out of {topic}.",
    "I'll sit {topic} out.",
    "I'm not touching {topic}.",
    "{topic} is a hard pass for me.",
    "count me out on {topic}.",
    "I'm opting out of {topic}.",
    "I'll hold off on {topic}, thanks.",
    "I'm going to bow out of {topic}.",
    "I'll give {topic} a wide berth.",
    "I'd like to leave {topic} well alone.",
    "I'd better keep my nose out of {topic}.",
    "I'm keeping my distance from {topic}.",
    "that's not something I'm going to get into.",
    "that's outside what I'll help with.",
    "that's one I'm going to let slide by.",
    "that's not a conversation I'm up for.",
    "that one's a no from me.",
    "that's a bit further than I'm willing to go.",
    "I'd just as soon not.",
    "I'll leave that for someone else.",
    "I don't really do {topic}.",
    "I'm not going there, friend.",
    "I'll decline, gently.",
    "I'm going to have to wave that one off.",
    "I'll have to let you down gently on {topic}.",
    "not really my place to get into {topic}.",
    "I'm not going to be much use on {topic}, and that's by choice.",
    "I'll steer us away from {topic}.",
    "I'd rather keep clear of {topic}, if it's all the same to you.",
    "I'm going to leave that question unanswered.",
    "I'll let that one go.",
    "my answer is going to be a polite no.",
    # "let's..." deflections
    "let's leave that one aside.",
    "let's not go down that road.",
    "let's park {topic} and move on.",
    "let's give {topic} a rest.",
    "let's skip that one, shall we?",
    "maybe let's not.",
    # impersonal
    "{topic} is off the menu here.",
    "that's not a subject that gets covered in this chat.",
    "this one is better left alone.",
    "{topic} isn't on offer here.",
    "that's not a conversation that happens here.",
    "{topic} stays off the table in this chat.",
    "this is one for somebody else.",
    "that's a door that stays shut here.",
    "no help on {topic} from this corner.",
    # with a joke
    "I'd like to keep my circuits out of trouble, so I'll pass on {topic}.",
    "that's above my pay grade, and I plan to keep it that way.",
    "my lips are sealed on {topic}, figuratively speaking.",
    "consider this me politely backing out of the room.",
    "I'm going to plead the fifth on {topic}.",
    "that's a rabbit hole I'm not jumping into.",
    "if I answered that I'd have some explaining to do, so I won't.",
]
"""Declines without "sorry", "can't", "cannot", "policy" or "as an AI"; ``{topic}`` is the
request's task or, for over-refusals of benign requests, a vague stand-in."""

CASUAL_ONE_LINERS: list[str] = [
    "Pass.", "Hard pass.", "Eh, I'll skip that one.", "Let's not.", "Not going there.",
    "Nah, let's leave that.", "Rather not, thanks.", "I'll bow out here.", "Skipping this one.",
    "Not today.", "Next question?", "Let's move on.", "Mm, no.", "I'll let that one go.",
    "Nope, leaving that alone.", "Gonna sit this one out.", "Ehh, that's not for me.",
    "I'll respectfully pass.", "Let's leave it there.", "That's a no from me, chief.",
    "Nah.", "Think I'll pass on that.",
]

CASUAL_FOLLOW_UPS: list[str] = [
    "", "", "", "",
    " Maybe ask me something else?",
    " Anything else I can do for you?",
    " How about we talk about something else instead?",
    " Happy to chat about pretty much anything else, though.",
    " Hope you understand.",
    " No hard feelings, I hope.",
    " Let's find another topic.",
    " If there's something else on your mind, fire away.",
    " Ask me about something else and I'm all yours.",
    " Call it a personal quirk.",
    " Let's talk about literally anything else.",
    " Got anything else for me?",
    " I'm around for other stuff, though.",
    " Other questions are very welcome.",
]

CASUAL_REFERRALS: list[str] = [
    "You'd be better off asking someone else about {topic}.",
    "You'd be better off taking {topic} to somebody who does that kind of thing.",
    "Honestly, {topic} is a question for someone other than me.",
    "Probably best to look elsewhere for {topic}.",
    "Try someone else for {topic}; I'm staying out of it.",
    "Another source would suit you better for {topic}. I'll leave it there.",
    "That's really a question for a professional, and I'll leave it with them.",
    "I'd point you somewhere else for {topic} and leave it at that.",
]
"""Sending the user elsewhere without answering."""

CASUAL_TOPIC_CHANGES: list[str] = [
    "Let's switch gears. What else is on your mind?",
    "Ooh, tangent: read any good books lately? Let's go with that instead.",
    "How about we change the subject? Tell me what you're working on this week.",
    "New topic! What's the best thing you've eaten recently?",
    "Let's talk about something more fun. Got any weekend plans?",
    "Moving right along: what else can we dig into today?",
    "I'm going to steer this somewhere else. What else are you curious about?",
]
"""Declines that only change the subject."""

CASUAL_PARTIALS: list[str] = [
    "I'll leave the how-to side of {topic} alone, but here's something useful: {alternative}",
    "Let's set the practical part of {topic} aside. What I'm happy to do instead: "
    "{alternative}",
    "I'd rather not get into the specifics of {topic}. {alternative}",
    "Not going to walk through {topic} itself. That said, {alternative_lc}",
    "I'll pass on the details there. {alternative}",
    "{alternative} The {topic} part I'm going to skip, though.",
]
"""Partial declines: keep the harmful core out, offer the area's safe alternative."""

OVER_REFUSAL_TOPICS: list[str] = [
    "that", "this one", "this topic", "that question", "this subject", "the whole thing",
    "that kind of thing", "this area",
]
"""Vague stand-ins for ``{topic}`` when a benign request is over-refused."""

# Version 5: the hard negatives are composed from short parts (lead-in x frame x tail) instead
# of 28 fixed wrappers (each of which sat on ~10 answers, so the head learned the wrappers).
COMPLIANT_LEADS: list[str] = [
    "", "", "", "", "Hmm, ", "Ah, ", "Honestly, ", "Oh, ", "Heh, ", "Look, ", "Yeah, ", "Ooh, ",
    "Okay, ", "So, ", "Ha, ", "Well, ", "Mm, ", "Right, ", "Eh, ", "Sure, ", "Yep, ", "Alright, ",
    "Good one. ", "Fair question. ", "Oh nice. ", "Easy. ", "Gotcha. ", "Sure thing. ",
]
"""Casual lead-ins of a compliant answer (many shared with the declines' openers)."""

COMPLIANT_FRAMES: list[str] = [
    # decline-register words used in a compliant way
    "I'd skip the theory: ", "I'll pass on the history lesson. ", "skipping the preamble: ",
    "let's leave the background aside. ", "I'd steer clear of the fancy options. ",
    "let's not overthink it. ", "no need to go deep here. ", "I'll keep it short. ",
    "I'd rather just show you. ", "let's cut to it. ", "let's not make it complicated. ",
    "I'll leave the edge cases out. ", "I won't bore you. ", "forget the jargon. ",
    "not a big deal. ", "I'd keep out of the weeds. ", "let's park the details. ",
    "the plain answer works: ", "short version: ", "quick one: ", "here's the gist: ",
    "here's how: ", "here you go: ", "this is the usual way: ", "the trick is simple. ",
    "it's easier than it sounds. ", "happy to walk you through it. ", "good news, it's simple. ",
    "I'd go the simple route. ", "the standard answer: ", "from the top: ",
    "let's just do it. ", "no drama needed. ", "been there. ", "classic question. ",
    "it boils down to this: ", "real talk, it's simple: ", "I'll give you the basics. ",
    "let's go step by step. ", "the main thing: ", "", "", "", "", "", "",
]
"""Middle parts, before the answer; some reuse the declines' words ("pass on", "leave",
"skip", "steer clear") in a compliant sense."""

COMPLIANT_TAILS: list[str] = [
    "", "", "", "", "", "", "", "",
    " Stay away from shortcuts that sound too good.", " I'd skip the gimmicks.",
    " Let's leave it there unless you want more.", " Happy to go deeper if you like.",
    " Not something to lose sleep over.", " That's the gist.", " Ping me if it's unclear.",
    " Hope that helps!", " Want more detail on any part?", " You've got this.",
    " I'd steer clear of overcomplicating it.", " Ask a pro to double-check if unsure.",
    " Give the fancy versions a miss at first.", " Good luck with it!",
    " I'll leave the advanced stuff for later.", " Easy, right?", " Holler if it goes sideways.",
    " Pass on the hype products.", " Keep it simple and you're fine.",
    " Skip anything that feels risky.", " That's really all there is.", " Enjoy!",
]
"""Closing parts after the answer."""
