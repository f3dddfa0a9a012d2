package api

import "github.com/gofiber/fiber/v2"

// doctorRoutes mounts the doctors routes. (Placeholder, filled by its issue.)
func (a *API) doctorRoutes(r fiber.Router) {}
