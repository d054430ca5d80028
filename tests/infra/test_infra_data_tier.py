"""RDS, S3, SQS, SSM parameters, alarms, SNS and the budget: exact inputs per stack."""
from __future__ import annotations

import json

from components.config import PROJECT
from components.mocks import REDACTED


def test_beta_database(stack_run):
    run = stack_run("beta")
    rec = run.recording
    db = rec.named("unamentis-db-postgres")
    expected = {
        "engine": "postgres", "engineVersion": "16", "instanceClass": "db.t4g.micro",
        "allocatedStorage": 20, "maxAllocatedStorage": 50, "storageType": "gp3",
        "storageEncrypted": True, "publiclyAccessible": False, "multiAz": False,
        "backupRetentionPeriod": 7, "deletionProtection": False, "dbName": "unamentis",
        "username": "unamentis_admin", "copyTagsToSnapshot": True,
        "caCertIdentifier": "rds-ca-rsa2048-g1",
    }
    assert {k: db.get(k) for k in expected} == expected
    # The password is generated, travels only as a secret, and is never in plan output.
    assert db.secret_inputs == ["password"]
    assert db.redacted["password"] == REDACTED
    assert db.get("manageMasterUserPassword") is None
    pw = rec.named("unamentis-db-master-password")
    assert (pw.get("length"), pw.get("special")) == (32, False)
    # Isolated data subnets and the db security group only.
    group = rec.find_by_output("name", db.get("dbSubnetGroupName"))
    data = {rec.named(f"unamentis-network-data-{az}").id for az in ("us-east-1a", "us-east-1b")}
    assert set(group.get("subnetIds")) == data
    sgs = {r.get("tags")["unamentis:role"]: r.id for r in rec.of_type("aws:ec2/securityGroup:SecurityGroup")}
    assert db.get("vpcSecurityGroupIds") == [sgs["db"]]
    pg = rec.find_by_output("name", db.get("parameterGroupName"))
    assert pg.get("family") == "postgres16"
    assert {p["name"]: p["value"] for p in pg.get("parameters")} == {
        "rds.force_ssl": "1", "idle_session_timeout": "600000",
        "idle_in_transaction_session_timeout": "60000"}


def test_database_url_is_a_secure_string(stack_run):
    rec = stack_run("beta").recording
    p = rec.named("unamentis-params-database-url")
    assert (p.get("name"), p.get("type"), p.get("tier")) == ("/unamentis/beta/database-url", "SecureString", "Standard")
    assert p.secret_inputs == ["value"]
    db = rec.named("unamentis-db-postgres")
    url = p.get("value")
    assert url == (f"postgresql://unamentis_admin:{db.get('password')}@{db.out('address')}:5432/"
                   "unamentis?sslmode=require")


def test_prod_database_is_multi_az_and_protected(stack_run):
    db = stack_run("prod").recording.named("unamentis-db-postgres")
    assert (db.get("instanceClass"), db.get("multiAz"), db.get("deletionProtection"),
            db.get("skipFinalSnapshot"), db.get("backupRetentionPeriod")) == ("db.t4g.small", True, True, False, 14)


def test_managed_master_password_uses_rds_secret(stack_run):
    run = stack_run("beta", {f"{PROJECT}:database": {"managed_master_password": True}})
    rec = run.recording
    db = rec.named("unamentis-db-postgres")
    assert db.get("manageMasterUserPassword") is True and db.get("password") is None
    assert [r for r in rec.of_type("random:index/randomPassword:RandomPassword") if r.name.startswith("unamentis-db")] == []
    assert [p for p in rec.of_type("aws:ssm/parameter:Parameter") if "database" in p.get("name")] == []


def test_buckets_are_private_encrypted_tls_only_with_lifecycle(stack_run):
    rec = stack_run("beta").recording
    buckets = {b.name: b for b in rec.of_type("aws:s3/bucket:Bucket")}
    assert set(buckets) == {"unamentis-storage-tts-cache", "unamentis-storage-curricula", "unamentis-storage-uploads"}

    def child(type_, bucket):
        found = [r for r in rec.of_type(type_) if r.get("bucket") == bucket.id]
        assert len(found) == 1, (type_, bucket.name)
        return found[0]

    expiry = {"unamentis-storage-tts-cache": 30, "unamentis-storage-curricula": None, "unamentis-storage-uploads": 30}
    for name, b in buckets.items():
        pab = child("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", b)
        assert all(pab.get(k) is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                                 "ignorePublicAcls", "restrictPublicBuckets"))
        sse = child("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", b)
        assert sse.get("rules")[0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
        own = child("aws:s3/bucketOwnershipControls:BucketOwnershipControls", b)
        assert own.get("rule") == {"objectOwnership": "BucketOwnerEnforced"}
        pol = json.loads(child("aws:s3/bucketPolicy:BucketPolicy", b).get("policy"))
        assert pol["Statement"][0]["Effect"] == "Deny"
        assert pol["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert pol["Statement"][0]["Resource"] == [b.out("arn"), b.out("arn") + "/*"]
        rule = child("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", b).get("rules")[0]
        assert rule["status"] == "Enabled"
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
        assert (rule.get("expiration") or {}).get("days") == expiry[name]
    assert [v.get("bucket") for v in rec.of_type("aws:s3/bucketVersioning:BucketVersioning")] == \
        [buckets["unamentis-storage-curricula"].id]


def test_jobs_queue_with_dead_letter_queue(stack_run):
    rec = stack_run("beta").recording
    jobs, dlq = rec.named("unamentis-queues-jobs"), rec.named("unamentis-queues-jobs-dlq")
    assert jobs.get("sqsManagedSseEnabled") is True and dlq.get("sqsManagedSseEnabled") is True
    assert json.loads(jobs.get("redrivePolicy")) == {"deadLetterTargetArn": dlq.out("arn"), "maxReceiveCount": 5}
    assert (jobs.get("visibilityTimeoutSeconds"), jobs.get("messageRetentionSeconds"),
            dlq.get("messageRetentionSeconds")) == (300, 4 * 86400, 14 * 86400)


def test_alerts_budget_and_alarms(stack_run):
    rec = stack_run("beta").recording
    topic = rec.named("unamentis-obs-alerts")
    subs = rec.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [(s.get("protocol"), s.get("endpoint"), s.get("topic")) for s in subs] == \
        [("email", "ops@unamentis.net", topic.out("arn"))]
    policy = json.loads(rec.named("unamentis-obs-alerts-policy").get("policy"))
    assert {s["Principal"]["Service"] for s in policy["Statement"]} == {"budgets.amazonaws.com", "cloudwatch.amazonaws.com"}
    budget = rec.named("unamentis-obs-budget")
    assert (budget.get("budgetType"), budget.get("timeUnit"), budget.get("limitAmount"), budget.get("limitUnit")) == \
        ("COST", "MONTHLY", "50.00", "USD")
    # AWS Budgets checks at create time that it may publish to the topic: the policy comes first.
    assert rec.named("unamentis-obs-alerts-policy").urn in budget.dependencies
    notes = {(n["notificationType"], n["threshold"]) for n in budget.get("notifications")}
    assert notes == {("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)}
    for n in budget.get("notifications"):
        assert not n.get("subscriberEmailAddresses")  # one path: the topic's e-mail subscriptions
        assert n["subscriberSnsTopicArns"] == [topic.out("arn")]
    alarms = {a.name: a for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    db = rec.named("unamentis-db-postgres")
    conn = alarms["unamentis-obs-db-connections"]
    assert (conn.get("namespace"), conn.get("metricName"), conn.get("threshold")) == ("AWS/RDS", "DatabaseConnections", 64)
    assert conn.get("dimensions") == {"DBInstanceIdentifier": db.out("identifier")}
    assert all(a.get("alarmActions") == [topic.out("arn")] for a in alarms.values())


def test_alarms_follow_compute_targets():
    """Alarm targets that compute fills produce their alarms (aggregate in beta, per function else)."""
    from components import mocks
    from components.observability import AlarmTargets, Observability, ObservabilityArgs

    def build(profile):
        targets = AlarmTargets(lambda_function_names=["fn-a", "fn-b"], lambda_timeout_s=10,
                               ecs_cluster_name="c", ecs_service_name="s", alb_arn_suffix="app/x/1",
                               http_api_id="api1", gpu_asg_name="unamentis-gpu")
        args = ObservabilityArgs(alert_emails=("ops@example.org",), budget_usd=50.0, budget_name="b",
                                 targets=targets, db_instance_identifier="db-1",
                                 per_function_alarms=profile != "beta")
        rec = mocks.record(lambda: Observability("obs", args), "t", PROJECT)
        return {a.name: a for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}

    beta = build("beta")
    assert set(beta) == {"obs-lambda-errors", "obs-lambda-duration", "obs-core-cpu", "obs-core-memory",
                         "obs-db-connections", "obs-db-free-storage", "obs-alb-5xx", "obs-alb-target-5xx",
                         "obs-api-5xx", "obs-gpu-utilization"}
    gpu = beta["obs-gpu-utilization"]
    assert (gpu.get("namespace"), gpu.get("metricName"), gpu.get("statistic"), gpu.get("threshold")) == (
        "UnaMentis/GPU", "GPUUtilization", "Average", 80)
    assert (gpu.get("comparisonOperator"), gpu.get("period") * gpu.get("evaluationPeriods")) == ("GreaterThanThreshold", 900)
    assert gpu.get("dimensions") == {"AutoScalingGroupName": "unamentis-gpu"}
    from components.aws_api_policy import _metric_alarm
    assert _metric_alarm(gpu) == []  # botocore's PutMetricAlarm model accepts it
    assert beta["obs-lambda-duration"].get("threshold") == 8000 and beta["obs-lambda-errors"].get("dimensions") is None
    assert beta["obs-api-5xx"].get("dimensions") == {"ApiId": "api1", "Stage": "$default"}
    prod = build("prod")
    assert {"obs-lambda-0-errors", "obs-lambda-1-errors", "obs-lambda-0-duration"} <= set(prod)
    assert prod["obs-lambda-1-errors"].get("dimensions") == {"FunctionName": "fn-b"}
