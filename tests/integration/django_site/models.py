from django.db import models


class Memo(models.Model):
    subject = models.CharField(max_length=60)
    body = models.TextField(default="")
    edited = models.DateTimeField(auto_now=True)
    score = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    flags = models.JSONField(default=dict)


class Mark(models.Model):
    memo = models.ForeignKey(Memo, on_delete=models.CASCADE)
    label = models.CharField(max_length=20)
    deleted = models.BooleanField(default=False)
