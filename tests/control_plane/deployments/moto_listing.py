"""What the moto server holds, read through boto3 directly (not through WedCloud's adapter), so
that a test compares the cloud itself before and after a deployment."""

from __future__ import annotations

from typing import Any

import boto3

from control_plane.deployments.spec import DEPLOYMENT_TAG

GROUP_TAG = "aws:autoscaling:groupName"  # what EC2 tags an Auto Scaling group's instances with


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item.get("Value", "") for item in items or ()}


class Moto:
    """One moto account in one region."""

    def __init__(self, endpoint: str, keys: dict[str, str], region: str) -> None:
        self.endpoint, self.keys, self.region = endpoint, keys, region

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.keys["access_key_id"],
            aws_secret_access_key=self.keys["secret_access_key"],
        )

    def _instances(self) -> list[dict[str, Any]]:
        pages = self.client("ec2").get_paginator("describe_instances").paginate()
        found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        return [i for i in found if i["State"]["Name"] not in ("terminated", "shutting-down")]

    def _groups(self) -> list[dict[str, Any]]:
        pages = self.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate()
        return [g for page in pages for g in page["AutoScalingGroups"]]

    def _databases(self) -> list[dict[str, Any]]:
        pages = self.client("rds").get_paginator("describe_db_instances").paginate()
        return [d for page in pages for d in page["DBInstances"] if d["DBInstanceStatus"] != "deleting"]

    def _volumes(self) -> list[dict[str, Any]]:
        pages = self.client("ec2").get_paginator("describe_volumes").paginate()
        return [v for page in pages for v in page["Volumes"] if v["State"] not in ("deleting", "deleted")]

    def _buckets(self) -> list[str]:
        return sorted(b["Name"] for b in self.client("s3").list_buckets().get("Buckets", []))

    def listing(self) -> dict[str, list[Any]]:
        """Everything alive: instances (id, type, the group that runs it), groups (name, launch
        template, desired), launch templates, databases, buckets, volumes (id, size, attached to)."""
        templates = self.client("ec2").describe_launch_templates()["LaunchTemplates"]
        return {
            "instances": sorted(
                (i["InstanceId"], i["InstanceType"], _tags(i.get("Tags")).get(GROUP_TAG)) for i in self._instances()
            ),
            "groups": sorted(
                (
                    g["AutoScalingGroupName"],
                    (g.get("LaunchTemplate") or {}).get("LaunchTemplateName"),
                    g["DesiredCapacity"],
                )
                for g in self._groups()
            ),
            "launch_templates": sorted(t["LaunchTemplateName"] for t in templates),
            "databases": sorted(d["DBInstanceIdentifier"] for d in self._databases()),
            "buckets": self._buckets(),
            "volumes": sorted(
                (v["VolumeId"], v["Size"], tuple(sorted(a["InstanceId"] for a in v.get("Attachments") or [])))
                for v in self._volumes()
            ),
        }

    def databases(self) -> dict[str, str]:
        """Database identifier -> instance class."""
        return {d["DBInstanceIdentifier"]: d["DBInstanceClass"] for d in self._databases()}

    def all_tagged(self) -> dict[str, dict[str, str]]:
        """``<kind>:<name or id>`` -> tags of each database, group, bucket, volume and instance
        that is not a group's (a group's instances carry the group's tags, so they are counted
        with it)."""
        found: dict[str, dict[str, str]] = {}
        for db in self._databases():
            found[f"db:{db['DBInstanceIdentifier']}"] = _tags(db.get("TagList"))
        for group in self._groups():
            found[f"asg:{group['AutoScalingGroupName']}"] = _tags(group.get("Tags"))
        s3 = self.client("s3")
        for name in self._buckets():
            try:
                found[f"bucket:{name}"] = _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except s3.exceptions.ClientError:
                found[f"bucket:{name}"] = {}
        for volume in self._volumes():
            found[f"volume:{volume['VolumeId']}"] = _tags(volume.get("Tags"))
        for instance in self._instances():
            tags = _tags(instance.get("Tags"))
            if GROUP_TAG not in tags:
                found[f"instance:{instance['InstanceId']}"] = tags
        return found

    def tagged_ids(self, deployment_id: str) -> list[str]:
        """The cloud ids (as WedCloud's adapter names them) of the databases, groups, buckets and volumes
        tagged with this deployment, one entry per resource (so a doubled one shows twice)."""
        found = [
            d["DBInstanceArn"]
            for d in self._databases()
            if _tags(d.get("TagList")).get(DEPLOYMENT_TAG) == deployment_id
        ]
        found += [
            g["AutoScalingGroupARN"]
            for g in self._groups()
            if _tags(g.get("Tags")).get(DEPLOYMENT_TAG) == deployment_id
        ]
        found += [
            f"arn:aws:s3:::{key.split(':', 1)[1]}"
            for key in self.deployment(deployment_id)
            if key.startswith("bucket:")
        ]
        found += [v["VolumeId"] for v in self._volumes() if _tags(v.get("Tags")).get(DEPLOYMENT_TAG) == deployment_id]
        return sorted(found)

    def deployment(self, deployment_id: str) -> dict[str, dict[str, str]]:
        """What :meth:`all_tagged` finds tagged with this deployment."""
        return {key: tags for key, tags in self.all_tagged().items() if tags.get(DEPLOYMENT_TAG) == deployment_id}
