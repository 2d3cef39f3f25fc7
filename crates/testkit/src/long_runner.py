# The long runner on moto_server, as infra.yaml makes it: a VPC's subnet and an egress-only
# security group, an ECS cluster and an arm64 Fargate task definition whose container is
# `runner`; with BUCKET set, that bucket too. Prints {"subnet", "sg"} as JSON. Run by the
# testkit (crates/testkit/src/ecs.rs) and the browser tests, with the AWS SDK pointed at moto.
import json
import os

import boto3

if os.environ.get("BUCKET"):
    boto3.client("s3").create_bucket(Bucket=os.environ["BUCKET"])
ec2 = boto3.client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
sg = ec2.create_security_group(
    GroupName="aws-exec-runner", Description="long jobs", VpcId=vpc
)["GroupId"]
ecs = boto3.client("ecs")
ecs.create_cluster(clusterName="aws-exec")
ecs.register_task_definition(
    family="aws-exec-runner",
    requiresCompatibilities=["FARGATE"],
    networkMode="awsvpc",
    cpu="256",
    memory="512",
    runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    # moto counts the containers' memory (Fargate itself needs only the task's).
    containerDefinitions=[
        {"name": "runner", "image": "aws-exec-runner:latest", "essential": True, "memory": 512}
    ],
)
print(json.dumps({"subnet": subnet, "sg": sg}))
