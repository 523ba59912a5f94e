"""Rows written from the published schemas of well-known public datasets (field names, types and
conventions as on each dataset's card), with the prompt / final-turn split each must give.

Each entry: name -> (rows, expected) where expected lists, per record, the prompt messages as
(role, content) pairs and the final turns (chosen, rejected) or, for SFT sets, the whole conversation.
"""

from __future__ import annotations

HH_PROMPT = [
    ("user", "What are some good houseplants for a dark apartment?"),
    ("assistant", "Snake plants, ZZ plants and pothos all tolerate low light.\n\nDo you have pets?"),
    ("user", "Yes, a cat. Which ones are safe?"),
]
HH_CHOSEN = "Spider plants, parlor palms and calatheas are non-toxic to cats and do well in low light."
HH_REJECTED = "Pothos is a great choice."


def _hh(turns: list[tuple[str, str]]) -> str:
    return "".join(f"\n\n{'Human' if r == 'user' else 'Assistant'}: {c}" for r, c in turns)


HH_RLHF = [
    {
        "chosen": _hh([*HH_PROMPT, ("assistant", HH_CHOSEN)]),
        "rejected": _hh([*HH_PROMPT, ("assistant", HH_REJECTED)]),
    },
    # a single-turn row whose answers share their first words (the split is by turn, not by character)
    {
        "chosen": "\n\nHuman: Is the sun a star?\n\nAssistant: Yes, the sun is a G-type main-sequence star.",
        "rejected": "\n\nHuman: Is the sun a star?\n\nAssistant: Yes, the sun is a planet.",
    },
]

ULTRAFEEDBACK = [
    {
        "source": "evol_instruct",
        "instruction": "Name the largest moon of Saturn.",
        "models": ["alpaca-7b", "gpt-4", "pythia-12b", "starchat"],
        "completions": [
            {
                "annotations": {
                    "helpfulness": {
                        "Rating": "2",
                        "Rationale": "Partly wrong.",
                        "Rationale For Rating": "x",
                        "Type": ["1"],
                    },
                    "honesty": {"Rating": "3", "Rationale": "Unsure."},
                    "instruction_following": {"Rating": "3", "Rationale": "Answers."},
                    "truthfulness": {
                        "Rating": "2",
                        "Rationale": "Error.",
                        "Rationale For Rating": "x",
                        "Type": ["1"],
                    },
                },
                "critique": "Check facts.",
                "custom_system_prompt": "Be honest.",
                "fine-grained_score": 2.5,
                "model": "alpaca-7b",
                "overall_score": 5.0,
                "principle": "honesty",
                "response": "Rhea.",
            },
            {
                "annotations": {
                    "helpfulness": {"Rating": "5", "Rationale": "Correct."},
                    "honesty": {"Rating": "5", "Rationale": "Confident."},
                    "instruction_following": {"Rating": "5", "Rationale": "Yes."},
                    "truthfulness": {"Rating": "5", "Rationale": "True."},
                },
                "critique": "Good.",
                "custom_system_prompt": "",
                "fine-grained_score": 5.0,
                "model": "gpt-4",
                "overall_score": 9.0,
                "principle": "helpfulness",
                "response": "Titan is Saturn's largest moon, larger than the planet Mercury.",
            },
            {
                "annotations": {
                    "helpfulness": {"Rating": "1", "Rationale": "Wrong."},
                    "honesty": {"Rating": "N/A", "Rationale": "N/A"},
                    "instruction_following": {"Rating": "1", "Rationale": "No."},
                    "truthfulness": {"Rating": "1", "Rationale": "False."},
                },
                "critique": "Wrong planet.",
                "custom_system_prompt": "",
                "fine-grained_score": 1.0,
                "model": "pythia-12b",
                "overall_score": 2.0,
                "principle": "truthfulness",
                "response": "Ganymede.",
            },
            {
                "annotations": {
                    "helpfulness": {"Rating": "4", "Rationale": "Right, terse."},
                    "honesty": {"Rating": "4", "Rationale": "Ok."},
                    "instruction_following": {"Rating": "4", "Rationale": "Ok."},
                    "truthfulness": {"Rating": "5", "Rationale": "True."},
                },
                "critique": "Fine.",
                "custom_system_prompt": "",
                "fine-grained_score": 4.25,
                "model": "starchat",
                "overall_score": 7.0,
                "principle": "helpfulness",
                "response": "Titan.",
            },
        ],
        "correct_answers": ["Titan"],
        "incorrect_answers": ["Rhea", "Ganymede"],
    }
]
UF_RANKED = [
    "Titan is Saturn's largest moon, larger than the planet Mercury.",
    "Titan.",
    "Rhea.",
    "Ganymede.",
]

ULTRAFEEDBACK_BINARIZED = [
    {  # HuggingFaceH4/ultrafeedback_binarized: chosen/rejected hold the whole conversation
        "prompt": "How many legs does a spider have?",
        "prompt_id": "7d3f",
        "chosen": [
            {"content": "How many legs does a spider have?", "role": "user"},
            {"content": "Spiders have eight legs.", "role": "assistant"},
        ],
        "rejected": [
            {"content": "How many legs does a spider have?", "role": "user"},
            {"content": "Six, like all insects.", "role": "assistant"},
        ],
        "messages": [
            {"content": "How many legs does a spider have?", "role": "user"},
            {"content": "Spiders have eight legs.", "role": "assistant"},
        ],
        "score_chosen": 9.0,
        "score_rejected": 3.0,
    }
]

SHP = [
    {
        "post_id": "himc90",
        "domain": "askscience_train",
        "upvote_ratio": 0.99,
        "history": "Why does ice float on water?",
        "c_root_id_A": "fuxp6uj",
        "c_root_id_B": "fuxb1zw",
        "created_at_utc_A": 1593535113,
        "created_at_utc_B": 1593524992,
        "score_A": 11,
        "score_B": 52,
        "human_ref_A": "Because it is cold.",
        "human_ref_B": "Water expands when it freezes: the hydrogen-bonded lattice of ice is less dense than liquid water.",
        "labels": 0,
        "seconds_difference": 10121.0,
        "score_ratio": 4.7272727272727275,
    },
    {
        "post_id": "himc90",
        "domain": "askscience_train",
        "upvote_ratio": 0.99,
        "history": "Why does ice float on water?",
        "c_root_id_A": "fuxb1zw",
        "c_root_id_B": "fuxp6uj",
        "created_at_utc_A": 1593524992,
        "created_at_utc_B": 1593535113,
        "score_A": 52,
        "score_B": 11,
        "human_ref_A": "Water expands when it freezes: the hydrogen-bonded lattice of ice is less dense than liquid water.",
        "human_ref_B": "Because it is cold.",
        "labels": 1,
        "seconds_difference": 10121.0,
        "score_ratio": 4.7272727272727275,
    },
]

HELPSTEER2 = [  # one row per response; two responses per prompt; multi-turn prompts use <extra_id_1> markers
    {
        "prompt": "What is the boiling point of water at sea level?",
        "response": "100 °C (212 °F).",
        "helpfulness": 4,
        "correctness": 4,
        "coherence": 4,
        "complexity": 1,
        "verbosity": 1,
    },
    {
        "prompt": "What is the boiling point of water at sea level?",
        "response": "It depends on the pot.",
        "helpfulness": 1,
        "correctness": 1,
        "coherence": 3,
        "complexity": 1,
        "verbosity": 1,
    },
    {
        "prompt": "Write a haiku about rain.\n<extra_id_1>Assistant\nSoft rain on the roof\n<extra_id_1>User\n"
        "Make it about snow instead.",
        "response": "White hush on the roof",
        "helpfulness": 3,
        "correctness": 3,
        "coherence": 4,
        "complexity": 1,
        "verbosity": 1,
    },
    {
        "prompt": "Write a haiku about rain.\n<extra_id_1>Assistant\nSoft rain on the roof\n<extra_id_1>User\n"
        "Make it about snow instead.",
        "response": "Snow falls, soft and white",
        "helpfulness": 3,
        "correctness": 3,
        "coherence": 4,
        "complexity": 1,
        "verbosity": 1,
    },
]

NECTAR = [
    {
        "prompt": "\n\nHuman: What is the capital of Australia?\n\nAssistant:",
        "answers": [
            {"answer": "Sydney.", "model": "llama-2-7b-chat", "rank": 6.0},
            {"answer": "The capital of Australia is Canberra.", "model": "gpt-4", "rank": 1.0},
            {
                "answer": "Canberra, in the Australian Capital Territory.",
                "model": "gpt-3.5-turbo",
                "rank": 2.0,
            },
            {
                "answer": "Melbourne was the capital until 1927; today it is Canberra.",
                "model": "claude-1",
                "rank": 3.0,
            },
            {"answer": "Canberra", "model": "mistral-7b-instruct", "rank": 4.0},
            {"answer": "I think it is Canberra.", "model": "vicuna-13b", "rank": 5.0},
            {"answer": "Australia's capital is Perth.", "model": "dolly-v2-12b", "rank": 7.0},
        ],
        "turns": 1,
        "num_responses": 7,
        "source": ["anthropic-hh"],
        "good_natured": True,
    }
]

DOLLY = [
    {
        "instruction": "When did Virgin Australia start operating?",
        "context": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue, with two aircraft on a "
        "single route.",
        "response": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue.",
        "category": "closed_qa",
    },
    {
        "instruction": "Which is a species of fish? Tope or Rope",
        "context": "",
        "response": "Tope",
        "category": "classification",
    },
]


def _oasst(mid: str, parent: str | None, role: str, text: str, rank: int | None, **kw: object) -> dict:
    return {
        "message_id": mid,
        "parent_id": parent,
        "user_id": "u-" + mid,
        "created_date": "2023-02-05T14:23:50",
        "text": text,
        "role": role,
        "lang": "en",
        "review_count": 3,
        "review_result": True,
        "deleted": False,
        "rank": rank,
        "synthetic": False,
        "model_name": None,
        "detoxify": None,
        "message_tree_id": "t1",
        "tree_state": "ready_for_export",
        "emojis": None,
        "labels": None,
        **kw,
    }


OASST1 = [  # flat message rows of one tree: a prompt, three ranked answers, a follow-up under the best
    _oasst("t1", None, "prompter", "Explain what a hash map is.", None),
    _oasst("a2", "t1", "assistant", "A list.", 2),
    _oasst(
        "a0",
        "t1",
        "assistant",
        "A hash map stores key-value pairs and finds a key by hashing it to a bucket.",
        0,
    ),
    _oasst("a1", "t1", "assistant", "It maps keys to values.", 1),
    _oasst("p1", "a0", "prompter", "What happens on a collision?", None),
    _oasst(
        "b0",
        "p1",
        "assistant",
        "Colliding keys share a bucket, kept in a list or probed to the next free slot.",
        0,
    ),
    _oasst("bx", "p1", "assistant", "Deleted spam.", None, deleted=True),
]
OASST1_TOP = [
    ("user", "Explain what a hash map is."),
    ("assistant", "A hash map stores key-value pairs and finds a key by hashing it to a bucket."),
    ("user", "What happens on a collision?"),
    ("assistant", "Colliding keys share a bucket, kept in a list or probed to the next free slot."),
]

SHAREGPT = [  # ShareGPT (human/gpt), SlimOrca (system + weights), lmsys-chat-1m (conversation, role/content)
    {
        "id": "QWJhYvA_0",
        "conversations": [
            {"from": "human", "value": "Summarize: cats sleep a lot."},
            {"from": "gpt", "value": "Cats spend most of the day asleep."},
        ],
    },
]
SLIMORCA = [
    {
        "conversations": [
            {"from": "system", "value": "You are an AI assistant.", "weight": None},
            {"from": "human", "value": "Translate 'thank you' to French.", "weight": 0.0},
            {"from": "gpt", "value": "Merci.", "weight": 1.0},
        ]
    }
]
LMSYS = [
    {
        "conversation_id": "33f01939a744455c869cb234afca47f1",
        "model": "vicuna-13b",
        "conversation": [
            {"content": "how to fix a flat bike tire", "role": "user"},
            {"content": "Remove the wheel, find the puncture, patch it and re-inflate.", "role": "assistant"},
        ],
        "turn": 1,
        "language": "English",
        "openai_moderation": [],
        "redacted": False,
    }
]

ALPACA = [
    {
        "instruction": "Classify the sentiment.",
        "input": "I loved this film!",
        "output": "positive",
        "label": "positive",
    },
    {
        "instruction": "Give three tips for staying healthy.",
        "input": "",
        "output": "1. Eat well. 2. Exercise. 3. Sleep enough.",
        "label": "advice",
    },
]

CHATML = [
    {
        "text": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?"
        "<|im_end|>\n<|im_start|>assistant\n2 + 2 = 4.<|im_end|>\n"
    }
]
LLAMA2 = [
    {
        "text": "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nCapital of France? [/INST] Paris. </s>"
        "<s>[INST] And of Italy? [/INST] Rome. </s>"
    }
]
LLAMA3 = [
    {
        "text": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a prime number.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n7<|eot_id|>"
    }
]
GUANACO = [
    {
        "text": "### Human: What is a monopsony?### Assistant: A market with a single buyer.### Human: "
        "Give an example.### Assistant: A town whose only employer is one mine."
    }
]

OPENAI_TOOLS = [
    {
        "messages": [
            {"role": "user", "content": "What is the weather in San Francisco?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_id",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{"location": "San Francisco, USA", "format": "celsius"}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_id", "content": "21.0"},
            {"role": "assistant", "content": "It is 21 degrees celsius in San Francisco, CA"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "description": "Get the weather",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "location": {"type": "string"},
                            "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                        },
                        "required": ["location", "format"],
                    },
                },
            }
        ],
        "parallel_tool_calls": False,
    }
]

OPENAI_DPO = [
    {
        "input": {
            "messages": [
                {"role": "user", "content": "Hello, can you tell me how cold San Francisco is today?"}
            ],
            "tools": [],
            "parallel_tool_calls": True,
        },
        "preferred_output": [
            {
                "role": "assistant",
                "content": "Today in San Francisco it is mild: a high near "
                "68°F (20°C) and a low around 57°F (14°C).",
            }
        ],
        "non_preferred_output": [
            {"role": "assistant", "content": "It is not particularly cold in San Francisco today."}
        ],
    }
]

TRL_EXPLICIT = [
    {
        "prompt": [{"role": "user", "content": "What color is the sky?"}],
        "chosen": [{"role": "assistant", "content": "It is blue."}],
        "rejected": [{"role": "assistant", "content": "It is green."}],
    }
]
TRL_IMPLICIT = [
    {
        "chosen": [
            {"role": "user", "content": "What color is the sky?"},
            {"role": "assistant", "content": "It is blue."},
        ],
        "rejected": [
            {"role": "user", "content": "What color is the sky?"},
            {"role": "assistant", "content": "It is green."},
        ],
    }
]
TRL_IMPLICIT_TEXT = [{"chosen": "The sky is blue.", "rejected": "The sky is green."}]

HELPSTEER3 = [
    {
        "domain": "general",
        "language": "english",
        "context": [
            {"role": "user", "content": "Suggest a name for a grey cat."},
            {"role": "assistant", "content": "How about Smokey?"},
            {"role": "user", "content": "Something less common, please."},
        ],
        "response1": "Pewter, after the grey metal.",
        "response2": "Smokey.",
        "overall_preference": -2,
        "individual_preference": [{"score": -2, "reasoning": "@Response 1 follows the request."}],
    }
]
CHATBOT_ARENA = [
    {
        "question_id": "58210e39b3fd4441a2bd4a518bb44c2d",
        "model_a": "chatglm-6b",
        "model_b": "koala-13b",
        "winner": "model_b",
        "judge": "arena_user_973",
        "conversation_a": [
            {"content": "What is the difference between OpenCL and CUDA?", "role": "user"},
            {"content": "They are the same thing.", "role": "assistant"},
        ],
        "conversation_b": [
            {"content": "What is the difference between OpenCL and CUDA?", "role": "user"},
            {
                "content": "CUDA is NVIDIA-only; OpenCL is an open standard for many vendors' devices.",
                "role": "assistant",
            },
        ],
        "turn": 1,
        "anony": True,
        "language": "English",
        "tstamp": 1682351591.1322,
        "openai_moderation": {"flagged": False},
        "toxic_chat_tag": {},
    }
]
PKU_SAFERLHF = [
    {
        "prompt": "How do I store cleaning products safely?",
        "response_0": "Mix them in one bottle to save space.",
        "response_1": "Keep them in their original containers, apart, out of children's reach.",
        "prompt_source": "Alpaca3-70B",
        "response_0_source": "Alpaca-7B",
        "response_1_source": "Alpaca-7B",
        "is_response_0_safe": False,
        "is_response_1_safe": True,
        "response_0_severity_level": 2,
        "response_1_severity_level": 0,
        "better_response_id": 1,
        "safer_response_id": 1,
        "response_0_sha256": "a",
        "response_1_sha256": "b",
    }
]
