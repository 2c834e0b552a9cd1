"""Translate SAM templates to plain CloudFormation, offline, as SAM would deploy them.

Usage: python sam-translate.py [--plain-too] TEMPLATE...
  (writes TEMPLATE.translated.json, prints its path)
Templates without the SAM transform are skipped; with --plain-too they are written as
JSON instead (TEMPLATE.plain.json, short-form tags in long form), for tools that read
only JSON (cfn-guard). Local paths (CodeUri, nested
Location) are first turned into S3 locations, as `sam package` does.
"""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoSar:
    """No Serverless Application Repository look-ups (no network here)."""

    def load(self):
        return {}


def package(template):
    """What `sam package` does before deploying: local paths become S3 locations."""
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Application" and isinstance(props.get("Location"), str):
            if not props["Location"].startswith("https://"):
                props["Location"] = "https://s3.amazonaws.com/packaged/" + props["Location"]
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            if not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = "s3://packaged/" + props["CodeUri"]
    return template


def main() -> int:
    args = sys.argv[1:]
    plain_too = "--plain-too" in args
    for path in (a for a in args if a != "--plain-too"):
        with open(path, encoding="utf-8") as f:
            template = yaml_parse(f.read())
        if "AWS::Serverless-2016-10-31" not in json.dumps(template.get("Transform", "")):
            if plain_too:
                out = path + ".plain.json"
                with open(out, "w", encoding="utf-8") as f:
                    json.dump(template, f, indent=1, ensure_ascii=False)
                print(out)
            continue
        out = path + ".translated.json"
        with open(out, "w", encoding="utf-8") as f:
            json.dump(transform(package(template), {}, NoSar()), f, indent=1, ensure_ascii=False)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
