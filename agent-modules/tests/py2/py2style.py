# A module in the style of Ganglia's gmond_python_modules, written for Python 2:
# print statements, dict.iteritems and has_key, `except X, e`, urllib2 (imported only),
# commands, the string module's functions, long literals, xrange, a tab in indentation.
import os
import sys
import string
import commands
import urllib2

descriptors = []
_values = {}


def echo_handler(name):
    status, out = commands.getstatusoutput('echo 42')
    if status != 0:
        print >>sys.stderr, "echo failed: %s" % out
        return 0
    return string.atoi(string.strip(out))


def param_handler(name):
    return _values[name]


def sum_handler(name):
    total = 0L
    for i in xrange(5):
        total += i
    return int(total)


def caught_handler(name):
    try:
        int('not a number')
    except ValueError, e:
        return len(string.split(str(e), ':'))
    return 0


def tabbed_handler(name):
    # Indented with a tab below spaces: Python 2 read the tab as 8 columns.
    if name:
	return 3
    return 0


def build(name, handler, value_type, units):
    return {'name': name, 'call_back': handler, 'time_max': 90,
            'value_type': value_type, 'units': units, 'slope': 'both',
            'format': '%u', 'description': name, 'groups': 'py2'}


def metric_init(params):
    global descriptors
    print "[py2style] metric_init(%d params)" % len(params)
    for key, value in params.iteritems():
        if params.has_key(key):
            _values['py2_' + key] = string.atof(value)
    descriptors = [build('py2_echo', echo_handler, 'uint', 'n'),
                   build('py2_sum', sum_handler, 'uint', 'n'),
                   build('py2_caught', caught_handler, 'uint', 'n'),
                   build('py2_tabbed', tabbed_handler, 'uint', 'n')]
    for name in sorted(_values.keys()):
        descriptors.append(build(name, param_handler, 'float', 'x'))
    return descriptors


def metric_cleanup():
    pass


if __name__ == '__main__':
    for d in metric_init({'scale': '2.5'}):
        print '%s = %s' % (d['name'], d['call_back'](d['name']))
