"""An order; its confirmation e-mail is a pgqueue job written in the same transaction."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"order {self.pk} for {self.email}"
