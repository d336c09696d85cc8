SELECT customer,
       SUM(amount) AS total
  FROM "${projectKey}_orders_copy"
 GROUP BY customer
 ORDER BY customer
