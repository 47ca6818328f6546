"""Customers API routes, relative to /api/v1/workspaces/<workspace_id>/."""

from django.urls import path

from customers.api import CustomerDetailApi, CustomerIdentifyApi

urlpatterns = [
    path("customers", CustomerIdentifyApi.as_view(), name="customers"),
    path("customers/<id:customer_id>", CustomerDetailApi.as_view(), name="customer-detail"),
]
