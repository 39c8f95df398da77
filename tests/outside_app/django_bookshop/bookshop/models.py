from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=100)
    blurb = models.CharField(max_length=200, default="")
    stock = models.IntegerField(default=0)
    version = models.IntegerField(default=1)  # bumped by every checked save

    class Meta:
        app_label = "bookshop"


class Tag(models.Model):
    book = models.ForeignKey(Book, related_name="tags", on_delete=models.CASCADE)
    name = models.CharField(max_length=40)

    class Meta:
        app_label = "bookshop"
        constraints = [models.UniqueConstraint(fields=["book", "name"], name="bookshop_tag_once")]
