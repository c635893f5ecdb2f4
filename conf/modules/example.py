"""An example treestat agent module in Python, written to Ganglia's gmond interface.

metric_init(params) receives the parameters of example.conf (all strings) and returns
the metric descriptors; each call_back is called with the metric's name at the module's
interval; metric_cleanup() is called once at shutdown. This file loads unchanged in
Ganglia's gmond, and Ganglia modules load unchanged here.
"""

import random

descriptors = []
random_max = 100
constant_value = 0


def random_number(name):
    """A random integer in [0, RandomMax)."""
    return random.randrange(0, random_max)


def constant(name):
    """The value of ConstantValue."""
    return constant_value


def metric_init(params):
    global descriptors, random_max, constant_value
    random_max = int(params["RandomMax"])
    constant_value = int(params["ConstantValue"])
    descriptors = [
        {
            "name": "example_random",
            "call_back": random_number,
            "time_max": 90,
            "value_type": "uint",
            "units": "N",
            "slope": "both",
            "format": "%u",
            "description": "A random number below RandomMax",
            "groups": "example",
        },
        {
            "name": "example_constant",
            "call_back": constant,
            "time_max": 90,
            "value_type": "uint",
            "units": "N",
            "slope": "zero",
            "format": "%u",
            "description": "The value of ConstantValue",
            "groups": "example",
        },
    ]
    return descriptors


def metric_cleanup():
    """Nothing to release."""


if __name__ == "__main__":
    for d in metric_init({"RandomMax": "500", "ConstantValue": "322"}):
        print("%s = %s" % (d["name"], d["call_back"](d["name"])))
