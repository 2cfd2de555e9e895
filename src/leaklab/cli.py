"""The `leaklab` command: compute or run one experiment, build the whole book, or measure an fgsm_leak record's
kept model afterwards."""

import argparse
import sys

from . import experiments


def parse_overrides(pairs):
    """['eps=0.2', 'seed=3'] -> {'eps': '0.2', 'seed': '3'} (types are checked by experiments.resolve)."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise experiments.ParameterError(f"-p {pair!r}: write parameters as NAME=VALUE, e.g. -p eps=0.2")
        overrides[name.strip()] = value.strip()
    return overrides


def main(argv=None):
    parser = argparse.ArgumentParser(prog="leaklab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in (("run", "execute one experiment's notebook (papermill) and write a run record"),
                          ("compute", "compute one experiment with no notebook (no Jupyter needed) and write "
                                      "the same record")):
        one = sub.add_parser(command, help=text)
        one.add_argument("experiment", help="one of: " + ", ".join(experiments.EXPERIMENTS))
        one.add_argument("--profile", default="quick", help="quick (a CPU) or full (the paper's scale)")
        one.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                         help="override one parameter (repeatable)")
        one.add_argument("--results", default=None, help="directory for the record (default results/EXPERIMENT)")
        if command == "run":
            one.add_argument("--log-output", action="store_true", help="stream the notebook's output")
    book = sub.add_parser("book", help="execute every notebook, then build the HTML book")
    book.add_argument("--profile", default="quick", help="quick (a CPU) or full (the paper's scale)")
    params = sub.add_parser("params", help="list each experiment's parameters and profiles (or one experiment's)")
    params.add_argument("experiment", nargs="?", default=None, help="one of: " + ", ".join(experiments.EXPERIMENTS))
    later = sub.add_parser("measure-as-trained", help="add to an fgsm_leak record made before it the kept model's "
                           "accuracy under FGSM computed as its training computed it (BatchNorm on batch statistics) "
                           "and under random signs of the same size, or that baseline alone to a record that lacks "
                           "only it")
    later.add_argument("record", help="the record's .json (results/fgsm_leak/...)")
    args = parser.parse_args(argv)

    try:
        if args.command == "params":
            chosen = [experiments.get(args.experiment)] if args.experiment else experiments.EXPERIMENTS.values()
            for exp in chosen:
                print(f"{exp.name}: {exp.title}")
                for key, spec in exp.params.items():
                    values = ", ".join(f"{prof}: {vals[key]}" for prof, vals in exp.profiles.items())
                    print(f"  {key:<15} {spec.allowed():<32} {values}  -- {spec.help}")
        elif args.command == "measure-as-trained":
            from . import fgsm_leak

            print(f"record:   {fgsm_leak.add_as_trained(args.record)}")
        elif args.command in ("run", "compute"):
            # Checked before anything heavy is imported: a bad parameter fails in a fraction of a second.
            overrides = parse_overrides(args.param)
            experiments.resolve(args.experiment, args.profile, overrides)
            from . import runner

            if args.command == "run":
                path, record, executed = runner.run(args.experiment, args.profile, overrides, args.results,
                                                    args.log_output)
            else:
                path, record = runner.compute(args.experiment, args.profile, overrides, args.results)
            exp = experiments.get(args.experiment)
            head, value = exp.metrics[exp.headline], record["metrics"][exp.headline]
            print(f"{exp.name} ({args.profile}): {head.label}: "
                  f"{'undefined' if value is None else head.fmt.format(value)} "
                  f"(paper: {head.fmt.format(head.paper)}); {record['provenance']['wall_time_s']:.1f} s")
            print(f"record:   {path}")
            if args.command == "run":
                print(f"notebook: {executed}")
        else:
            from . import book  # build() checks every notebook's parameters before running any

            index = book.build(args.profile)
            print(f"\nThe book is at {index}")
    except experiments.ParameterError as err:
        print(f"leaklab: {err}", file=sys.stderr)
        return 2
    except experiments.RunError as err:
        print(f"leaklab: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        from .data import DataError  # here, not at the top: `--help` and parameter checks need no torch

        if not isinstance(err, DataError):
            raise
        print(f"leaklab: data: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
